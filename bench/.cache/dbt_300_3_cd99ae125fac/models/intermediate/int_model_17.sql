select id, updated_at, amount, event_date from {{ ref('stg_model_6') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_56') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_61') }}
