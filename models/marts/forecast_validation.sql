{#-
    The backtests' check of the revenue forecast, per segment and in total. The total has two 95%
    intervals: the model's (the customers' own randomness, from the backtest job) and the empirical
    error band, the model's widened by the errors of the earlier backtests whose horizon had ended by
    this cutoff (the rule and its factors: int_forecast_error_bands, the same the published forward
    interval uses). Whether the data before the cutoff hold a year before it: without one, no earlier
    backtest has seen the season the horizon falls in.
-#}
with

backtests as (

    select * from {{ ref('int_backtests_ranked') }}

),

validation as (

    select * from {{ ref('stg_ml__forecast_validation') }}

),

error_bands as (

    select * from {{ ref('int_forecast_error_bands') }}

),

transactions as (

    select * from {{ ref('int_transactions_classified') }}

),

data_start as (

    select cast(min(invoiced_at) as date) as first_invoiced_on

    from transactions

),

checked as (

    select
        backtests.backtest_id,
        backtests.is_latest,
        backtests.is_latest_of_cutoff,
        backtests.cutoff_date,
        backtests.horizon_days,
        validation.segment_name,
        validation.customers,
        validation.predicted_revenue,
        validation.actual_revenue,
        validation.revenue_error,
        validation.revenue_error_pct,
        validation.predicted_purchases,
        validation.actual_purchases,
        validation.predicted_revenue_low,
        validation.predicted_revenue_high,
        validation.segment_name = 'All customers' as is_total

    from backtests
    inner join validation on backtests.backtest_id = validation.backtest_id

),

banded as (

    select
        checked.backtest_id,
        checked.is_latest,
        checked.is_latest_of_cutoff,
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
        case when checked.is_total then error_bands.band_backtests else 0 end as earlier_backtests,
        checked.predicted_revenue_low * error_bands.low_factor as band_revenue_low,
        checked.predicted_revenue_high * error_bands.high_factor as band_revenue_high,
        data_start.first_invoiced_on
        <= {{ dbt.dateadd('day', -365, 'checked.cutoff_date') }} as has_year_before_cutoff

    from checked
    left join error_bands
        on
            checked.cutoff_date = error_bands.forecast_date
            and checked.horizon_days = error_bands.horizon_days
    cross join data_start

),

final as (

    select
        *,
        actual_revenue between band_revenue_low and band_revenue_high as is_covered_by_error_band

    from banded

)

select * from final
