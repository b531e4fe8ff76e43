select id, updated_at, amount, event_date from {{ ref('stg_model_16') }}
union all
select id, updated_at, amount, event_date from {{ ref('int_model_39') }}
union all
select id, updated_at, amount, event_date from {{ ref('fct_model_62') }}
