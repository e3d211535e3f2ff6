{#-
    A number stored under `key` of the JSON object column `column` (the clustering features the ML job
    writes per customer), as a decimal.
-#}
{% macro json_number(column, key) -%}
    {{ return(adapter.dispatch('json_number', 'insiders')(column, key)) }}
{%- endmacro %}

{% macro default__json_number(column, key) -%}
    cast({{ column }} ->> '{{ key }}' as {{ dbt.type_numeric() }})
{%- endmacro %}

{% macro spark__json_number(column, key) -%}
    cast(get_json_object({{ column }}, '$.{{ key }}') as decimal(38, 10))
{%- endmacro %}
