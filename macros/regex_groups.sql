{#-
    All capture groups of the first match of `pattern` in `text_expression`, as an array (null when
    it does not match): one regex evaluation for every part of a date. Read with array_element.
-#}
{% macro regex_groups(text_expression, pattern) -%}
    {{ return(adapter.dispatch('regex_groups')(text_expression, pattern)) }}
{%- endmacro %}

{% macro default__regex_groups(text_expression, pattern) -%}
    regexp_match({{ text_expression }}, {{ pattern }})
{%- endmacro %}

{#- Element `index_expression` (1-based; null index → null) of an array made by regex_groups. -#}
{% macro array_element(array_expression, index_expression) -%}
    {{ return(adapter.dispatch('array_element')(array_expression, index_expression)) }}
{%- endmacro %}

{% macro default__array_element(array_expression, index_expression) -%}
    ({{ array_expression }})[{{ index_expression }}]
{%- endmacro %}

{% macro spark__array_element(array_expression, index_expression) -%}
    element_at({{ array_expression }}, {{ index_expression }})
{%- endmacro %}
