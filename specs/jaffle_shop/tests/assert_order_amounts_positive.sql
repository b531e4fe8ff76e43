-- Singular test: no order may have a negative paid amount.
select order_id, amount
from {{ ref('fct_orders') }}
where amount < 0
