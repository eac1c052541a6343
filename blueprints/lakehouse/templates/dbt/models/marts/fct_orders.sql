-- Orders that count towards revenue (placed or shipped), with the country
-- of their customer.
select
    o.order_id,
    o.data_domain,
    o.customer_id,
    c.country_code,
    o.status,
    o.amount_eur,
    o.ordered_at,
    o.order_date
from {{ ref('stg_orders') }} as o
inner join {{ ref('stg_customers') }} as c
    on o.customer_id = c.customer_id
where o.status in ('placed', 'shipped')
