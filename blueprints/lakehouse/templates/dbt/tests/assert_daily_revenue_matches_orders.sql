-- The daily aggregate loses and invents nothing: its total per data data_domain
-- equals the sum of the data_domain's counted orders. Returns the domains where
-- the two differ.
with by_day as (
    select data_domain, sum(revenue_eur) as revenue_eur
    from {{ ref('agg_revenue_daily') }}
    group by data_domain
),

by_order as (
    select data_domain, sum(amount_eur) as revenue_eur
    from {{ ref('fct_orders') }}
    group by data_domain
)

select
    coalesce(d.data_domain, o.data_domain) as data_domain,
    d.revenue_eur as daily_total,
    o.revenue_eur as order_total
from by_day as d
full outer join by_order as o
    on d.data_domain = o.data_domain
where d.revenue_eur is null
    or o.revenue_eur is null
    or d.revenue_eur <> o.revenue_eur
