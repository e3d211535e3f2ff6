with

backtests as (

    select * from {{ ref('int_backtests_ranked') }}

),

validation as (

    select * from {{ ref('stg_ml__forecast_validation') }}

),

final as (

    select
        backtests.backtest_id,
        backtests.is_latest,
        backtests.cutoff_date,
        backtests.horizon_days,
        validation.segment_name,
        validation.customers,
        validation.predicted_revenue,
        validation.actual_revenue,
        validation.revenue_error,
        validation.revenue_error_pct,
        validation.predicted_purchases,
        validation.actual_purchases

    from backtests
    inner join validation on backtests.backtest_id = validation.backtest_id

)

select * from final
