{#-
    The dates the customer features are computed at, decided here only (one row each):
    - current: var('as_of_date') when set (YYYY-MM-DD), else the day after the latest invoice date;
    - backtest_cutoff: var('backtest_cutoff') when set, else current − var('backtest_horizon_days'),
      with the end of the horizon after it (horizon_end_date).
    Only transactions strictly before a reference date count in the features as of that date.
-#}
{%- set as_of_var = var('as_of_date') -%}
{%- set cutoff_var = var('backtest_cutoff') -%}
{%- for name, value in [('as_of_date', as_of_var), ('backtest_cutoff', cutoff_var)] -%}
    {%- if value is not none and not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value | string) -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a date written YYYY-MM-DD, got: " ~ value) }}
    {%- endif -%}
{%- endfor -%}

with

transactions as (

    select * from {{ ref('int_transactions_classified') }}

),

current_date_of_features as (

    select
        {% if as_of_var is none -%}
            cast({{ dbt.dateadd('day', 1, 'max(cast(invoiced_at as date))') }} as date)
        {%- else -%}
            cast('{{ as_of_var }}' as date)
        {%- endif %} as reference_date

    from transactions

),

backtest_cutoff as (

    select
        {% if cutoff_var is none -%}
            cast(
                {{ dbt.dateadd('day', -(var('backtest_horizon_days') | int), 'reference_date') }} as date
            )
        {%- else -%}
            cast('{{ cutoff_var }}' as date)
        {%- endif %} as reference_date

    from current_date_of_features

),

final as (

    select
        'current' as reference_name,
        reference_date,
        cast(null as date) as horizon_end_date

    from current_date_of_features

    union all

    select
        'backtest_cutoff' as reference_name,
        reference_date,
        -- the backtest's truth: purchases from the cutoff up to (not including) this date
        cast(
            {{ dbt.dateadd('day', var('backtest_horizon_days') | int, 'reference_date') }} as date
        ) as horizon_end_date

    from backtest_cutoff

)

select * from final
