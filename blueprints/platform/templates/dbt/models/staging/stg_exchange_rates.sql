-- Each rate with the period it applies to: from its publication date until
-- the next rate of the same currency (open-ended for the latest one).
with rates as (
    select
        upper(trim(currency)) as currency,
        cast(rate_date as date) as valid_from,
        cast(rate_to_eur as decimal(18, 6)) as rate_to_eur
    from {{ raw_table('exchange_rates') }}
)

select
    currency,
    valid_from,
    lead(valid_from) over (partition by currency order by valid_from) as valid_to,
    rate_to_eur
from rates
