-- One row per customer: its latest version at the source, with the country
-- code in upper case.
with ranked as (
    select
        customer_id,
        trim(name) as customer_name,
        upper(trim(country)) as country_code,
        updated_at,
        row_number() over (partition by customer_id order by updated_at desc) as version_rank
    from {{ ref('customers') }}
)

select customer_id, customer_name, country_code, updated_at
from ranked
where version_rank = 1
