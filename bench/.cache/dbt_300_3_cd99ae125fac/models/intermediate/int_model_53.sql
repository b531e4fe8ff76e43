select id, updated_at, amount, event_date from {{ ref('stg_model_0') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_23') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_24') }}
