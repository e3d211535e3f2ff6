{#-
    Ends a subquery whose computed columns the outer query reads several times (e.g. one hash read by
    every branch of a CASE): Postgres pulls a plain subquery up into its reader and then evaluates the
    expression once per reference; `limit all offset 0` (no limit, no offset) keeps the subquery, so
    each row computes it once.
    Spark eliminates common subexpressions itself and needs nothing.
-#}
{% macro computed_once() -%}
    {{ return(adapter.dispatch('computed_once', 'insiders')()) }}
{%- endmacro %}

{% macro default__computed_once() -%}
    limit all offset 0
{%- endmacro %}

{% macro spark__computed_once() -%}
{%- endmacro %}
