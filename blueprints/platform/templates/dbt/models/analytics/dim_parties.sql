-- One row per party with its activity to date: what account reviews and
-- supplier scorecards start from.
{{ config(properties=iceberg_properties(partitioning=['data_domain'])) }}

with activity as (
    select
        party_id,
        count(*) as transaction_count,
        sum(case when is_completed then 1 else 0 end) as completed_count,
        sum(case when is_completed then amount_eur else 0 end) as completed_amount_eur,
        min(occurred_at) as first_transaction_at,
        max(occurred_at) as last_transaction_at
    from {{ ref('fct_transactions') }}
    group by party_id
)

select
    p.party_id,
    p.data_domain,
    p.party_type,
    p.party_name,
    p.country_code,
    p.created_at,
    coalesce(a.transaction_count, 0) as transaction_count,
    coalesce(a.completed_count, 0) as completed_count,
    cast(coalesce(a.completed_amount_eur, 0) as decimal(18, 2)) as completed_amount_eur,
    a.first_transaction_at,
    a.last_transaction_at
from {{ ref('stg_parties') }} as p
left join activity as a
    on a.party_id = p.party_id
