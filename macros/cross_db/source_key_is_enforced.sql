{#-
    A condition that is true when `relation` has the primary key `columns` (the database enforces it).
    Postgres: read from the catalog. Spark has no key constraints: true, the loader keeps the key
    (python_jobs/insiders/warehouse/spark_load.py numbers a file's lines once and writes them into the
    file's own partition, dropped first), and the line counts of tests/data/classified_lines_reconcile_with_files.sql
    catch a file written twice.
-#}
{% macro source_key_is_enforced(relation, columns) -%}
    {{ return(adapter.dispatch('source_key_is_enforced', 'insiders')(relation, columns)) }}
{%- endmacro %}

{% macro default__source_key_is_enforced(relation, columns) -%}
    exists (
        select 1
        from pg_catalog.pg_index as keys
        where
            keys.indrelid = to_regclass('{{ relation.schema }}.{{ relation.identifier }}')
            and keys.indisprimary
            and (
                select string_agg(columns.attname, ',' order by columns.attname)
                from pg_catalog.pg_attribute as columns
                where columns.attrelid = keys.indrelid and columns.attnum = any(keys.indkey)
            ) = '{{ columns | sort | join(",") }}'
    )
{%- endmacro %}

{% macro spark__source_key_is_enforced(relation, columns) -%}
    true
{%- endmacro %}
