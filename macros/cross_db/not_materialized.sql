{#-
    The CTE hint after `as` in `name as {{ not_materialized() }} (...)`: Postgres inlines the CTE into
    its readers instead of computing it once; Spark always inlines CTEs and has no such keyword.
-#}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized', 'insiders')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}
    not materialized
{%- endmacro %}

{% macro spark__not_materialized() -%}
{%- endmacro %}
