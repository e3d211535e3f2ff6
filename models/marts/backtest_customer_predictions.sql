-- One row per customer and backtest cutoff/horizon: what the backtest predicted for the customer at the
-- cutoff and what happened in the horizon (net of returns), so anyone can audit the forecast. The
-- latest backtest of each cutoff and horizon; earlier cutoffs' rows are kept.
with

backtests as (

    select * from {{ ref('int_backtests_ranked') }}

),

predictions as (

    select * from {{ ref('stg_ml__backtest_customer_predictions') }}

),

latest_per_cutoff as (

    select
        backtest_id,
        cutoff_date,
        horizon_days,
        row_number() over (
            partition by cutoff_date, horizon_days
            order by created_at desc, backtest_id desc
        ) = 1 as is_latest_of_cutoff

    from backtests

),

final as (

    select
        predictions.customer_id,
        latest_per_cutoff.cutoff_date,
        latest_per_cutoff.horizon_days,
        predictions.backtest_id,
        predictions.segment_name,
        predictions.is_insider,
        predictions.past_gross_revenue,
        predictions.rfm_score,
        predictions.probability_purchase,
        predictions.expected_purchases,
        predictions.expected_revenue,
        predictions.actual_purchases,
        predictions.actual_revenue,
        predictions.actual_purchases > 0 as has_purchased

    from predictions
    inner join latest_per_cutoff on predictions.backtest_id = latest_per_cutoff.backtest_id
    where latest_per_cutoff.is_latest_of_cutoff

)

select * from final
