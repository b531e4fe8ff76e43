select id, updated_at, amount, event_date from {{ ref('stg_model_19') }}
union all
select id, updated_at, amount, event_date from {{ ref('int_model_55') }}
union all
select id, updated_at, amount, event_date from {{ ref('fct_model_127') }}
