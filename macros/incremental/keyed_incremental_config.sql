{#-
    The config of an incremental table whose rows are replaced whole by key (`unique_key`): Postgres
    deletes the key's rows and inserts the new ones; Spark merges on the key (a table format with MERGE);
    on Spark Parquet, which cannot merge, a plain table rebuilt each build (spark_file_format_has_merge).
-#}
{% macro keyed_incremental_config(unique_key) -%}
    {%- if target.type == 'spark' and not spark_file_format_has_merge() -%}
        {{ return({'materialized': 'table'}) }}
    {%- endif -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'merge' if target.type in ('spark', 'databricks') else 'delete+insert',
        'unique_key': unique_key,
        'on_schema_change': 'append_new_columns',
    }) }}
{%- endmacro %}
