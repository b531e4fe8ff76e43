MODEL (
  name shop.regions,
  kind SEED (
    path '../seeds/regions.csv'
  ),
  columns (
    region_id INTEGER,
    region_name TEXT,
    manager TEXT
  ),
  grain region_id,
  owner 'ops',
  tags [reference]
);
