{#-
    Column types that mean the same on both engines.
    dbt.type_float() is not one of them (real, 32-bit, on Spark) and a bare `numeric` is decimal(10,0)
    on Spark (2.55 becomes 3); dbt.type_numeric() is numeric(28,6) on Postgres (rounds today's exact
    values). dbt.type_string() (text / string) and dbt.type_int() (integer / int) are the same on both.
-#}

{#- A 64-bit IEEE double. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'insiders')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{#-
    An exact decimal. Postgres: unconstrained numeric (today's type: any scale, no rounding). Spark has
    no unconstrained decimal: decimal(38, 10) keeps 28 integer digits and 10 decimals, more than a
    price or a revenue sum needs; products of two such values keep at least 6 decimals
    (spark.sql.decimalOperations.allowPrecisionLoss).
-#}
{% macro type_exact_decimal() -%}
    {{ return(adapter.dispatch('type_exact_decimal', 'insiders')()) }}
{%- endmacro %}

{% macro default__type_exact_decimal() -%}
    numeric
{%- endmacro %}

{% macro spark__type_exact_decimal() -%}
    decimal(38, 10)
{%- endmacro %}
