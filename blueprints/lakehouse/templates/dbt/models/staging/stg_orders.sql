-- One row per real order: duplicates delivered again dropped, test orders
-- removed, the status in lower case, the amount in euros.
with distinct_orders as (
    select distinct
        order_id,
        customer_id,
        data_domain,
        lower(trim(status)) as status,
        amount_cents,
        ordered_at
    from {{ ref('orders') }}
)

select
    order_id,
    customer_id,
    data_domain,
    status,
    -- Cents to euros as an exact decimal: sums of it never drift.
    cast(amount_cents / 100.0 as decimal(18, 2)) as amount_eur,
    ordered_at,
    cast(ordered_at as date) as order_date
from distinct_orders
where status <> 'test'
