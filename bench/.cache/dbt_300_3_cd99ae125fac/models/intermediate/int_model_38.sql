select id, updated_at, amount, event_date from {{ ref('stg_model_23') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_24') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_56') }}
