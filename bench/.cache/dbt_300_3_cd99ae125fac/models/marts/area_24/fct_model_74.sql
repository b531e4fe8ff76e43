select id, updated_at, amount, event_date from {{ ref('stg_model_82') }}
union all
select id, updated_at, amount, event_date from {{ ref('int_model_30') }}
union all
select id, updated_at, amount, event_date from {{ ref('fct_model_48') }}
