{#-
    A text split into an array on a literal delimiter (given in Jinja), read with 1-based indexes.
    An index past the end is null on both. Unlike dbt.split_part, which returns '' past the end on
    Postgres and null on Spark. An empty text is an empty array on both (Spark's split gives ['']).
-#}
{% macro split_to_array(text_expression, delimiter) -%}
    {{ return(adapter.dispatch('split_to_array', 'insiders')(text_expression, delimiter)) }}
{%- endmacro %}

{% macro default__split_to_array(text_expression, delimiter) -%}
    string_to_array({{ text_expression }}, {{ insiders.sql_text_literal(delimiter) }})
{%- endmacro %}

{#- \Q...\E: the delimiter is matched literally by Spark's regex split. -#}
{% macro spark__split_to_array(text_expression, delimiter) -%}
    case
        when {{ text_expression }} = '' then cast(array() as array<string>)
        else split({{ text_expression }}, {{ insiders.sql_text_literal('\\Q' ~ delimiter ~ '\\E') }}, -1)
    end
{%- endmacro %}

{#- Element `index` (1 = first) of an array, null when there is none (whatever Spark's ANSI mode). -#}
{% macro array_element(array_expression, index) -%}
    {{ return(adapter.dispatch('array_element', 'insiders')(array_expression, index)) }}
{%- endmacro %}

{% macro default__array_element(array_expression, index) -%}
    ({{ array_expression }})[{{ index }}]
{%- endmacro %}

{% macro spark__array_element(array_expression, index) -%}
    try_element_at({{ array_expression }}, {{ index }})
{%- endmacro %}
