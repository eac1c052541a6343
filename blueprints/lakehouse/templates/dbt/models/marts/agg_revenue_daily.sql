-- Revenue per day and data data_domain: the starter dashboard's main table.
select
    order_date,
    data_domain,
    count(*) as order_count,
    sum(amount_eur) as revenue_eur
from {{ ref('fct_orders') }}
group by order_date, data_domain
