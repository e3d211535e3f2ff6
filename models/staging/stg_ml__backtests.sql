with

source as (

    select * from {{ source('ml', 'backtests') }}

),

renamed as (

    select
        backtest_id,
        run_id as backtest_run_id,
        cycle_run_id,
        cutoff_date,
        horizon_days,
        created_at,
        customers_at_cutoff,
        group_size,
        future_revenue,
        insiders_beat_baselines

    from source

)

select * from renamed
