select id, updated_at, amount, event_date from {{ ref('stg_model_65') }}
union all
select id, updated_at, amount, event_date from {{ ref('int_model_53') }}
