{#
  Table properties of an Iceberg table written through Trino: Parquet files,
  format v2 (row-level deletes for MERGE and DELETE), and the partition
  transforms given, e.g. ['data_domain', 'month(occurred_at)']. Other
  adapters get no properties, so the same model runs on DuckDB unchanged.
#}
{% macro iceberg_properties(partitioning=[], sorted_by=[]) -%}
    {%- if target.type != 'trino' -%}
        {{ return({}) }}
    {%- endif -%}
    {%- set properties = {'format': "'PARQUET'", 'format_version': '2'} -%}
    {%- if partitioning -%}
        {%- do properties.update({'partitioning': "ARRAY['" ~ partitioning | join("', '") ~ "']"}) -%}
    {%- endif -%}
    {%- if sorted_by -%}
        {%- do properties.update({'sorted_by': "ARRAY['" ~ sorted_by | join("', '") ~ "']"}) -%}
    {%- endif -%}
    {{ return(properties) }}
{%- endmacro %}
