select id, updated_at, amount, event_date from {{ ref('stg_model_31') }}
union all
select id, updated_at, amount, event_date from {{ ref('int_model_6') }}
union all
select id, updated_at, amount, event_date from {{ ref('fct_model_82') }}
