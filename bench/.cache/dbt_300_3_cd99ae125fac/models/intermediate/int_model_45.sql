select id, updated_at, amount, event_date from {{ ref('stg_model_43') }}
union all
select id, updated_at, amount, event_date from {{ ref('stg_model_51') }}
