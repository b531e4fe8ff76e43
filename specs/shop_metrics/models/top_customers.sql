MODEL (
  name shop.top_customers,
  kind VIEW,
  cron '@daily',
  grain customer_id
);

SELECT
  customer_id,
  first_name,
  lifetime_value
FROM shop.customer_ltv
WHERE lifetime_value > 0
ORDER BY lifetime_value DESC
LIMIT 3
