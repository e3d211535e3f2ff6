{#-
    The config of an incremental table whose rows are replaced whole by key (`unique_key`): Postgres
    deletes the key's rows and inserts the new ones; Spark merges on the key (a table format with MERGE).
-#}
{% macro keyed_incremental_config(unique_key) -%}
    {#- Parquet on Spark (the local default) has no MERGE: a plain table, rebuilt whole (= a full build),
        as customer_history_config does. -#}
    {%- if target.type == 'spark' and env_var('INSIDERS_SPARK_FILE_FORMAT', 'parquet') not in ('delta', 'iceberg', 'hudi') -%}
        {{ return({'materialized': 'table'}) }}
    {%- endif -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'merge' if target.type in ('spark', 'databricks') else 'delete+insert',
        'unique_key': unique_key,
        'on_schema_change': 'append_new_columns',
    }) }}
{%- endmacro %}
