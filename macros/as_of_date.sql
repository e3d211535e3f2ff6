{#-
    The reference date of the features as a SQL date expression, the one place it is decided:
    var('as_of_date') when set (YYYY-MM-DD), else the day after the latest invoice date in the data
    (2011-12-10 for the shared file). Only transactions strictly before it count.

    It is rendered inside the model that uses it, so
    `dbt run -s customer_features --vars '{as_of_date: 2011-09-01, marts_schema: ...}'` computes the
    features at that date without rebuilding anything upstream (the backtest does exactly that).
-#}
{% macro as_of_date() -%}
    {%- set value = var('as_of_date') -%}
    {%- if value is none -%}
        (select max(invoiced_at)::date + 1 from {{ ref('int_transactions_classified') }})
    {%- elif modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value | string) -%}
        cast('{{ value }}' as date)
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "var as_of_date must be a date written YYYY-MM-DD, got: " ~ value
        ) }}
    {%- endif -%}
{%- endmacro %}
