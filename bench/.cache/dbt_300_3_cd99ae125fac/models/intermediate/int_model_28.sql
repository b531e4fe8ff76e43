select id, updated_at, amount, event_date from {{ ref('stg_model_26') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_55') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_83') }}
