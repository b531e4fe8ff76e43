select id, updated_at, amount, event_date from {{ ref('stg_model_6') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_64') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_65') }}
