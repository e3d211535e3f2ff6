{#-
    All capture groups of the first match of `pattern` in `text_expression`, as an array (null when
    it does not match): one regex evaluation for every part of a date. Read with array_element (macros/cross_db/arrays.sql).
-#}
{% macro regex_groups(text_expression, pattern) -%}
    {{ return(adapter.dispatch('regex_groups')(text_expression, pattern)) }}
{%- endmacro %}

{% macro default__regex_groups(text_expression, pattern) -%}
    regexp_match({{ text_expression }}, {{ pattern }})
{%- endmacro %}
