MODEL (
  name shop.customer_history,
  kind SCD_TYPE_2_BY_COLUMN (
    unique_key customer_id,
    columns [order_count]
  ),
  cron '*/10 * * * *',
  grain customer_id,
  columns (
    customer_id INTEGER,
    order_count BIGINT
  )
);

SELECT
  customer_id::INTEGER AS customer_id,
  order_count::BIGINT AS order_count
FROM marts.dim_customers
