{#-
    The config of an incremental table that only ever appends rows it does not hold yet
    (int_stock_codes_classified): append on Postgres; on Spark Parquet a plain table rebuilt each build,
    like the keyed histories there (spark_file_format_has_merge). `sync_all_columns`: a column dropped
    from the model is dropped from the table (transaction_lines of int_stock_codes_classified).
-#}
{% macro append_config() -%}
    {%- if target.type == 'spark' and not spark_file_format_has_merge() -%}
        {{ return({'materialized': 'table'}) }}
    {%- endif -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'append',
        'on_schema_change': 'sync_all_columns',
    }) }}
{%- endmacro %}
