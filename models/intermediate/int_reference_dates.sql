{#-
    The dates the customer features are computed at, decided here only (one row each):
    - current: var('as_of_date') when set (YYYY-MM-DD), else the day after the latest invoice date;
    - backtest_cutoff: var('backtest_cutoff') when set, else current − var('backtest_horizon_days'),
      with the end of the horizon after it (horizon_end_date).
    Only transactions strictly before a reference date count in the features as of that date.
-#}
with

transactions as (

    select * from {{ ref('int_transactions_classified') }}

),

latest_invoice as (

    -- one row, whatever the vars: a var date alone, selected from the lines, would be one per line
    select max(cast(invoiced_at as date)) as latest_invoice_date

    from transactions

),

current_date_of_features as (

    select
        {{ date_var(
            'as_of_date', "cast(" ~ dbt.dateadd('day', 1, 'latest_invoice_date') ~ " as date)"
        ) }} as reference_date

    from latest_invoice

),

backtest_cutoff as (

    select
        {{ date_var(
            'backtest_cutoff',
            "cast(" ~ dbt.dateadd('day', -(var('backtest_horizon_days') | int), 'reference_date') ~ " as date)"
        ) }} as reference_date

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
