select id, updated_at, amount, event_date from {{ ref('stg_model_59') }}
union all
select id, updated_at, amount, event_date from {{ ref('int_model_49') }}
