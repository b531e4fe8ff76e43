MODEL (
  name shop.daily_revenue,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column order_date
  ),
  cron '@daily',
  grain order_date,
  partitioned_by order_date,
  owner 'finance',
  tags [finance, revenue],
  audits (
    assert_non_negative_revenue,
    not_null(columns := (order_date, revenue))
  ),
  columns (
    order_date DATE,
    orders BIGINT,
    revenue DOUBLE
  )
);

SELECT
  order_date::DATE AS order_date,
  COUNT(order_id)::BIGINT AS orders,
  SUM(amount)::DOUBLE AS revenue
FROM marts.fct_orders
WHERE order_date BETWEEN @start_date AND @end_date
GROUP BY 1
