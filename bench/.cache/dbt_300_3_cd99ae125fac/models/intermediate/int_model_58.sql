select id, updated_at, amount, event_date from {{ ref('stg_model_31') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_74') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_81') }}
