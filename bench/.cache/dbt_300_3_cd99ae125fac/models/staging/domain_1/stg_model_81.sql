select id, updated_at, amount, cast(updated_at as date) as event_date
from {{ source('raw', 'table_21') }}
