select
    c.customer_id,
    c.first_name,
    c.last_name,
    count(o.order_id) as order_count,
    min(o.order_date) as first_order_date,
    max(o.order_date) as most_recent_order_date
from {{ ref('stg_customers') }} as c
left join {{ ref('stg_orders') }} as o on o.customer_id = c.customer_id
group by 1, 2, 3
