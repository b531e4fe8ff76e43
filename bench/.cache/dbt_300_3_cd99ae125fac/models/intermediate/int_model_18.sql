select id, updated_at, amount, event_date from {{ ref('stg_model_25') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_34') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_86') }}
