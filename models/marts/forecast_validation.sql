{#-
    The backtests' check of the revenue forecast, per segment and in total. The total has two 95%
    intervals: the model's (the customers' own randomness, from the backtest job) and the empirical
    error band, which widens it by the relative errors of the earlier backtests whose horizon had ended
    by this cutoff (same horizon; the latest backtest of each cutoff): an error e = (predicted -
    actual) / actual means actual = predicted / (1 + e), so the band runs from the model's low / (1 +
    the largest e) to its high / (1 + the smallest e), never narrower than the model's own interval.
-#}
with

backtests as (

    select * from {{ ref('int_backtests_ranked') }}

),

validation as (

    select * from {{ ref('stg_ml__forecast_validation') }}

),

checked as (

    select
        backtests.backtest_id,
        backtests.is_latest,
        backtests.cutoff_date,
        backtests.horizon_days,
        backtests.created_at,
        validation.segment_name,
        validation.customers,
        validation.predicted_revenue,
        validation.actual_revenue,
        validation.revenue_error,
        validation.revenue_error_pct,
        validation.predicted_purchases,
        validation.actual_purchases,
        validation.predicted_revenue_low,
        validation.predicted_revenue_high

    from backtests
    inner join validation on backtests.backtest_id = validation.backtest_id

),

past_errors as (

    -- the total's error of the latest backtest of each cutoff: what a later forecast can learn from
    select
        cutoff_date,
        horizon_days,
        revenue_error_pct,
        row_number() over (
            partition by cutoff_date, horizon_days
            order by created_at desc, backtest_id desc
        ) as recency_rank

    from checked
    where segment_name = 'All customers' and revenue_error_pct is not null

),

error_bands as (

    select
        checked.backtest_id,
        count(past_errors.revenue_error_pct) as earlier_backtests,
        min(past_errors.revenue_error_pct) as smallest_earlier_error_pct,
        max(past_errors.revenue_error_pct) as largest_earlier_error_pct

    from checked
    inner join past_errors
        on
            checked.horizon_days = past_errors.horizon_days
            and {{ dbt.dateadd('day', 'past_errors.horizon_days', 'past_errors.cutoff_date') }}
            <= checked.cutoff_date
            and past_errors.recency_rank = 1
    where checked.segment_name = 'All customers'
    group by checked.backtest_id

),

banded as (

    select
        checked.backtest_id,
        checked.is_latest,
        checked.cutoff_date,
        checked.horizon_days,
        checked.segment_name,
        checked.customers,
        checked.predicted_revenue,
        checked.actual_revenue,
        checked.revenue_error,
        checked.revenue_error_pct,
        checked.predicted_purchases,
        checked.actual_purchases,
        checked.predicted_revenue_low,
        checked.predicted_revenue_high,
        checked.actual_revenue between checked.predicted_revenue_low
        and checked.predicted_revenue_high as is_covered_by_model_interval,
        coalesce(error_bands.earlier_backtests, 0) as earlier_backtests,
        least(
            checked.predicted_revenue_low,
            checked.predicted_revenue_low / (1 + error_bands.largest_earlier_error_pct)
        ) as band_revenue_low,
        greatest(
            checked.predicted_revenue_high,
            checked.predicted_revenue_high / (1 + error_bands.smallest_earlier_error_pct)
        ) as band_revenue_high

    from checked
    left join error_bands on checked.backtest_id = error_bands.backtest_id

),

final as (

    select
        *,
        actual_revenue between band_revenue_low and band_revenue_high as is_covered_by_error_band

    from banded

)

select * from final
