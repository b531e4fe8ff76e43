select id, updated_at, amount, event_date from {{ ref('stg_model_46') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_73') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_76') }}
