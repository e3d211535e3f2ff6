{#-
    The config of a compact per-customer history (int_customer_invoices, _products, _country_days,
    _return_days): incremental, updated from the lines of the customers that have lines in the files
    loaded since its last build (see customers_with_new_lines). Those customers' rows are recomputed
    from all their lines, so a late return, or an invoice whose lines arrive in two files, lands as a
    full rebuild would put it. The strategy is the adapter's:
    - Postgres: delete+insert on customer_id — every row of a recomputed customer is replaced (null
      parts of the grain, e.g. a missing country, cannot leave a stale row behind);
    - Spark: merge on the model's grain (needs a table format with MERGE, e.g. Delta); lines are only
      ever added, so no key of a recomputed customer can disappear. Parquet (the local default) has neither
      MERGE nor delete: there the histories are plain tables, rebuilt from all lines each build (what a
      full refresh gives, by construction; spark_file_format_has_merge).
    `--full-refresh` rebuilds the table from all lines.
-#}
{% macro customer_history_config(grain) -%}
    {%- if target.type == 'spark' and not spark_file_format_has_merge() -%}
        {{ return({'materialized': 'table'}) }}
    {%- elif target.type in ('spark', 'databricks') -%}
        {{ return({
            'materialized': 'incremental',
            'incremental_strategy': 'merge',
            'unique_key': grain,
            'on_schema_change': 'append_new_columns',
        }) }}
    {%- else -%}
        {{ return({
            'materialized': 'incremental',
            'incremental_strategy': 'delete+insert',
            'unique_key': 'customer_id',
            'on_schema_change': 'append_new_columns',
        }) }}
    {%- endif -%}
{%- endmacro %}
