{#-
    True when `text_expression` begins with `prefix_expression` (both SQL expressions). Not `like`: the
    `_` and `%` of a prefix would be wildcards. Postgres spells it starts_with, Spark startswith.
-#}
{% macro text_starts_with(text_expression, prefix_expression) -%}
    {{ return(adapter.dispatch('text_starts_with', 'insiders')(text_expression, prefix_expression)) }}
{%- endmacro %}

{% macro default__text_starts_with(text_expression, prefix_expression) -%}
    starts_with({{ text_expression }}, {{ prefix_expression }})
{%- endmacro %}

{% macro spark__text_starts_with(text_expression, prefix_expression) -%}
    startswith({{ text_expression }}, {{ prefix_expression }})
{%- endmacro %}
