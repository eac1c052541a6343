{#
  No two rows share the same values in all the given columns: the key of a
  table whose grain is several columns (a domain and a day, a currency and a
  date). Written here rather than taken from a package so that dbt needs no
  network access to run.
#}
{% test unique_combination(model, columns) %}
select
    {{ columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
