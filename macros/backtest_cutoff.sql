{#-
    The cutoff date of the backtest as a SQL date expression: var('backtest_cutoff') when set
    (YYYY-MM-DD), else the reference date (macro as_of_date) minus var('backtest_horizon_days').
-#}
{% macro backtest_cutoff() -%}
    {%- set value = var('backtest_cutoff') -%}
    {%- if value is none -%}
        ({{ as_of_date() }} - {{ var('backtest_horizon_days') | int }})
    {%- elif modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value | string) -%}
        cast('{{ value }}' as date)
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "var backtest_cutoff must be a date written YYYY-MM-DD, got: " ~ value
        ) }}
    {%- endif -%}
{%- endmacro %}
