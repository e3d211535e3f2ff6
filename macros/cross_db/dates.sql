{#-
    Date arithmetic. The number of days from one date to another is dbt.datediff(start, end, 'day'):
    the same on both (Postgres: end::date - start::date, Spark: datediff(end, start); null in, null
    out). Adding days differs: dbt.dateadd returns a timestamp on Postgres, so use add_days.
-#}

{#- The date `days` days after the date `date_expression` (a date, not a timestamp; days may be < 0). -#}
{% macro add_days(date_expression, days) -%}
    {{ return(adapter.dispatch('add_days', 'insiders')(date_expression, days)) }}
{%- endmacro %}

{% macro default__add_days(date_expression, days) -%}
    (({{ date_expression }}) + ({{ days }}))
{%- endmacro %}

{% macro spark__add_days(date_expression, days) -%}
    date_add({{ date_expression }}, {{ days }})
{%- endmacro %}
