-- Returns each data domain whose daily totals do not add up to its
-- transactions: the aggregate must neither lose nor double-count a row.
with from_daily as (
    select
        data_domain,
        sum(transaction_count) as transaction_count,
        sum(completed_amount_eur) as completed_amount_eur
    from {{ ref('agg_daily_by_domain') }}
    group by data_domain
),

from_transactions as (
    select
        data_domain,
        count(*) as transaction_count,
        sum(case when is_completed then amount_eur else 0 end) as completed_amount_eur
    from {{ ref('fct_transactions') }}
    group by data_domain
)

select
    t.data_domain,
    t.transaction_count,
    d.transaction_count as daily_transaction_count,
    t.completed_amount_eur,
    d.completed_amount_eur as daily_completed_amount_eur
from from_transactions as t
left join from_daily as d
    on d.data_domain = t.data_domain
where d.data_domain is null
    or d.transaction_count <> t.transaction_count
    or d.completed_amount_eur <> t.completed_amount_eur
