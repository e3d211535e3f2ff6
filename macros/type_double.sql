{#-
    A 64-bit floating point type: what averages and rates are stored as (the segmentation reads them
    as float64). Not dbt.type_float(), which is 32-bit on Spark.
-#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'insiders')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}
