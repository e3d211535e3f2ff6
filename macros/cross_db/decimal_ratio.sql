{#-
    The ratio of two exact decimals (e.g. a segment's revenue over the run's). Postgres divides its
    unconstrained numerics exactly (today's SQL). Spark would give decimal(38, 6): two decimal(38, 10)
    sums divide with precision loss down to 6 decimals (up to 5e-7 off); a 64-bit double keeps ~16
    significant digits there.
-#}
{% macro decimal_ratio(numerator, denominator) -%}
    {{ return(adapter.dispatch('decimal_ratio', 'insiders')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__decimal_ratio(numerator, denominator) -%}
    {{ numerator }} / {{ denominator }}
{%- endmacro %}

{% macro spark__decimal_ratio(numerator, denominator) -%}
    cast({{ numerator }} as {{ insiders.type_double() }}) / cast({{ denominator }} as {{ insiders.type_double() }})
{%- endmacro %}
