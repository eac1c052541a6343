-- Customers with what they bought: first order, number of orders and
-- revenue (customers without a counted order have zeros).
with totals as (
    select
        customer_id,
        min(ordered_at) as first_ordered_at,
        count(*) as order_count,
        sum(amount_eur) as revenue_eur
    from {{ ref('fct_orders') }}
    group by customer_id
)

select
    c.customer_id,
    c.customer_name,
    c.country_code,
    t.first_ordered_at,
    coalesce(t.order_count, 0) as order_count,
    coalesce(t.revenue_eur, 0) as revenue_eur
from {{ ref('stg_customers') }} as c
left join totals as t
    on c.customer_id = t.customer_id
