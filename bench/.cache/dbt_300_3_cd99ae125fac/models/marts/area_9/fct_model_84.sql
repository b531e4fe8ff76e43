{{ config(materialized='incremental', unique_key='id') }}
select id, updated_at, amount, event_date from {{ ref('stg_model_70') }}
