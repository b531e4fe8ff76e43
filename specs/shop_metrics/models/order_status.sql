MODEL (
  name shop.order_status,
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key order_id
  ),
  cron '@hourly',
  grain order_id,
  columns (
    order_id INTEGER,
    status TEXT,
    updated_at TIMESTAMP
  )
);

SELECT
  order_id::INTEGER AS order_id,
  status::TEXT AS status,
  updated_at::TIMESTAMP AS updated_at
FROM marts.fct_orders
