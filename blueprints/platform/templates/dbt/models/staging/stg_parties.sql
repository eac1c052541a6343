-- One row per party: its latest delivered version, cleaned.
with versions as (
    select
        *,
        row_number() over (
            partition by party_id
            order by updated_at desc, _ingested_at desc
        ) as version_rank
    from {{ raw_table('parties') }}
)

select
    cast(party_id as varchar) as party_id,
    cast(data_domain as varchar) as data_domain,
    lower(trim(party_type)) as party_type,
    trim(party_name) as party_name,
    upper(trim(country_code)) as country_code,
    cast(created_at as timestamp) as created_at,
    cast(updated_at as timestamp) as updated_at
from versions
where version_rank = 1
