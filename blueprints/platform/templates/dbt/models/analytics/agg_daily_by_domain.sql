-- Activity of each data domain per day: the grain of the domain dashboards.
{{ config(properties=iceberg_properties(partitioning=['data_domain', 'month(activity_date)'])) }}

select
    data_domain,
    transaction_date as activity_date,
    count(*) as transaction_count,
    sum(case when status = 'completed' then 1 else 0 end) as completed_count,
    sum(case when status = 'cancelled' then 1 else 0 end) as cancelled_count,
    sum(case when status = 'open' then 1 else 0 end) as open_count,
    count(distinct party_id) as active_party_count,
    cast(sum(case when is_completed then amount_eur else 0 end) as decimal(18, 2)) as completed_amount_eur
from {{ ref('fct_transactions') }}
group by data_domain, transaction_date
