-- One row per transaction in its latest delivered status. Repeated rows of a
-- retried ingestion collapse into one.
with deliveries as (
    select
        *,
        row_number() over (
            partition by transaction_id
            order by _ingested_at desc
        ) as delivery_rank
    from {{ raw_table('transactions') }}
)

select
    cast(transaction_id as varchar) as transaction_id,
    cast(data_domain as varchar) as data_domain,
    cast(party_id as varchar) as party_id,
    lower(trim(status)) as status,
    cast(quantity as integer) as quantity,
    cast(amount as decimal(18, 2)) as amount,
    upper(trim(currency)) as currency,
    cast(occurred_at as timestamp) as occurred_at,
    cast(occurred_at as date) as transaction_date
from deliveries
where delivery_rank = 1
