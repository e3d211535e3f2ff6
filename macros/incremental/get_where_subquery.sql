{#-
    dbt's where-config of data tests, with one placeholder: `__lines_not_yet_tested__` is replaced by a
    condition that keeps only the lines classified after the newest line the customer histories have
    seen (max(int_customer_invoices.last_classified_at)). In `dbt build` a history is built only after
    the tests of the lines passed, so the lines before it have been tested by an earlier build, and a
    line never changes once classified (int_transactions_classified only appends whole new files). The condition is `true` (test all lines) on --full-refresh or while no history exists.
    A test run on its own (`dbt test` after `dbt run`) tests only the files the histories have not
    seen: run `dbt build`, as the cycle does, or `--full-refresh` to test everything.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__lines_not_yet_tested__' in where -%}
        {%- set where = where | replace('__lines_not_yet_tested__', lines_not_yet_tested()) -%}
    {%- endif -%}
    {%- if where and '__customers_not_yet_tested__' in where -%}
        {%- set where = where | replace('__customers_not_yet_tested__', customers_not_yet_tested(relation)) -%}
    {%- endif -%}
    {%- if where and '__files_not_yet_classified__' in where -%}
        {%- set where = where | replace('__files_not_yet_classified__', files_not_yet_classified()) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{% macro lines_not_yet_tested() -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{ return('true') }}
    {%- endif -%}
    {#- from the graph, not ref(): the tests of the lines must not wait for the history -#}
    {%- set node = graph.nodes.values() | selectattr('name', 'equalto', 'int_customer_invoices') | first -%}
    {%- set existing = adapter.get_relation(node.database, node.schema, node.alias) -%}
    {%- if existing is none -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(existing) | map(attribute='name') | map('lower') | list -%}
    {%- if 'last_classified_at' not in columns -%}
        {{ return('true') }}
    {%- endif -%}
    {{ return(classified_after_newest_of(existing)) }}
{%- endmacro %}

{#-
    The staged lines' counterpart of lines_not_yet_tested (placeholder `__files_not_yet_classified__`,
    also called by tests/data/loaded_files_reconcile.sql): `<column> in (<ids>)` of the loaded files that
    int_transactions_classified does not hold yet, as literals (Postgres then reads those files' lines
    by the primary key of raw.transactions instead of every line). In `dbt build` the tests of the
    staged lines run before int_transactions_classified appends a file, and it appends only after they
    passed: a file it holds has been tested. `true` (every file) on --full-refresh (which the cycle uses
    for a warehouse relation, whose rows can change under one file id) or while it does not exist.
-#}
{% macro files_not_yet_classified(column='file_id') -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set nodes = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') | list -%}
    {%- set lines = nodes | selectattr('name', 'equalto', 'int_transactions_classified') | first -%}
    {%- set files = nodes | selectattr('name', 'equalto', 'stg_shop__files') | first -%}
    {%- set existing = adapter.get_relation(lines.database, lines.schema, lines.alias) -%}
    {%- set files_relation = adapter.get_relation(files.database, files.schema, files.alias) -%}
    {%- if existing is none or files_relation is none -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set ids = files_not_in(files_relation, existing) -%}
    {{ return(column ~ ' in (' ~ (ids | join(', ') or 'null') ~ ')') }}
{%- endmacro %}

{#-
    The customer histories' counterpart of lines_not_yet_tested (placeholder `__customers_not_yet_tested__`):
    every row of the customers of `history` (a compact per-customer history) with a row classified
    after the newest stamp of int_customer_facts_by_reference_date, which `dbt build` builds from the
    histories only after their tests passed. An incremental build replaces whole customers, so the
    rows of the others are those an earlier build tested, and a key that contains customer_id is
    unique if it is unique within each recomputed customer. `true` (every row) on --full-refresh,
    while the facts do not exist, and on Spark Parquet (histories rebuilt whole each build).
-#}
{% macro customers_not_yet_tested(history) -%}
    {#- Spark on Parquet rebuilds the histories whole each build: test every row there -#}
    {%- if not execute or flags.FULL_REFRESH or (target.type == 'spark' and not spark_file_format_has_merge()) -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set facts = model_relation('int_customer_facts_by_reference_date') -%}
    {%- if facts is none -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(facts) | map(attribute='name') | map('lower') | list -%}
    {%- if 'last_classified_at' not in columns -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set condition -%}
        customer_id in (
            select recomputed.customer_id
            from {{ history }} as recomputed
            where
                recomputed.last_classified_at > (select max(facts.last_classified_at) from {{ facts }} as facts)
                or not exists (select 1 from {{ facts }} as facts)
        )
    {%- endset -%}
    {{ return(condition) }}
{%- endmacro %}
