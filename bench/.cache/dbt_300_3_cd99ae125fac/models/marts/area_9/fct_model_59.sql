select id, updated_at, amount, event_date from {{ ref('stg_model_29') }}
union all
select id, updated_at, amount, event_date from {{ ref('fct_model_42') }}
