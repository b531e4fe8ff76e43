select id, updated_at, amount, event_date from {{ ref('stg_model_50') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_82') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_86') }}
