{{ config(materialized='incremental', unique_key='id') }}
select id, updated_at, amount, event_date from {{ ref('stg_model_73') }}
union all
select id, updated_at, amount, event_date from {{ ref('fct_model_127') }}
