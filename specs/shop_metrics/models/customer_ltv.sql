MODEL (
  name shop.customer_ltv,
  kind FULL,
  cron '@daily',
  grain customer_id,
  owner 'finance',
  description 'Lifetime value per customer, from the dbt marts.',
  audits (
    unique_values(columns := (customer_id)),
    not_null(columns := (customer_id))
  ),
  columns (
    customer_id INTEGER,
    first_name TEXT,
    order_count BIGINT,
    lifetime_value DOUBLE
  )
);

SELECT
  c.customer_id::INTEGER AS customer_id,
  c.first_name::TEXT AS first_name,
  c.order_count::BIGINT AS order_count,
  COALESCE(SUM(o.amount), 0)::DOUBLE AS lifetime_value
FROM marts.dim_customers AS c
LEFT JOIN marts.fct_orders AS o
  ON o.customer_id = c.customer_id
GROUP BY 1, 2, 3
