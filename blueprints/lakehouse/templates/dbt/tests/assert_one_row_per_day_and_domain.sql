-- The daily aggregate has one row per day and data domain: returns the
-- pairs that appear more than once.
select order_date, data_domain, count(*) as row_count
from {{ ref('agg_revenue_daily') }}
group by order_date, data_domain
having count(*) > 1
