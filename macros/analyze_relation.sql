{#-
    Statistics for a table just built, so the planner sees its real size: the compact histories are
    new tables on every build, and without statistics Postgres joins them as if they were tiny.
-#}
{% macro analyze_relation(relation) -%}
    {{ return(adapter.dispatch('analyze_relation', 'insiders')(relation)) }}
{%- endmacro %}

{% macro default__analyze_relation(relation) -%}
    analyze {{ relation }}
{%- endmacro %}

{% macro spark__analyze_relation(relation) -%}
    analyze table {{ relation }} compute statistics
{%- endmacro %}
