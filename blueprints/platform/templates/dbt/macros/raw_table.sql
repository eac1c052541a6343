{#
  The relation of a raw table. On Trino it is the `raw` source: the Iceberg
  tables that the ingestion and Spark jobs write. On the local DuckDB target
  the seeds of the same name stand in for them; going through ref() makes
  dbt load the seeds before the models that read them.
#}
{% macro raw_table(table_name) -%}
    {%- if target.type == 'duckdb' -%}
        {{ return(ref(table_name)) }}
    {%- else -%}
        {{ return(source('raw', table_name)) }}
    {%- endif -%}
{%- endmacro %}
