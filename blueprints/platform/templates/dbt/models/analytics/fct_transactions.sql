-- One row per transaction, with its amount converted to euros at the rate in
-- force on the day it took place. Partitioned by data domain and month: domain
-- dashboards and month-to-date queries read only their own files.
{{ config(properties=iceberg_properties(
    partitioning=['data_domain', 'month(occurred_at)'],
    sorted_by=['party_id'],
)) }}

select
    t.transaction_id,
    t.data_domain,
    t.party_id,
    t.status,
    t.status = 'completed' as is_completed,
    t.quantity,
    t.amount,
    t.currency,
    r.rate_to_eur,
    cast(round(t.amount * r.rate_to_eur, 2) as decimal(18, 2)) as amount_eur,
    t.occurred_at,
    t.transaction_date
from {{ ref('stg_transactions') }} as t
left join {{ ref('stg_exchange_rates') }} as r
    on r.currency = t.currency
    and t.transaction_date >= r.valid_from
    and (r.valid_to is null or t.transaction_date < r.valid_to)
