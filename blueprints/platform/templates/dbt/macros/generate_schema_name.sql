{#
  Each environment has its own Trino and Iceberg catalog, so a model's schema
  is its layer alone (`staging`, `analytics`), the same on every target.
  dbt's default would prefix it with the target schema (`analytics_staging`).
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
