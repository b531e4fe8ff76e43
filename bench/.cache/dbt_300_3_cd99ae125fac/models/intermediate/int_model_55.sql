select id, updated_at, amount, event_date from {{ ref('stg_model_32') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_72') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_83') }}
