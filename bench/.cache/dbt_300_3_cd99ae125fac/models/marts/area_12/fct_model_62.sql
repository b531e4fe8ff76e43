select id, updated_at, amount, event_date from {{ ref('stg_model_61') }}
union all
select id, updated_at, amount, event_date from {{ ref('int_model_14') }}
union all
select id, updated_at, amount, event_date from {{ ref('fct_model_31') }}
