{#-
    The empirical error band of a revenue forecast, decided here only (the backtests' check in
    forecast_validation and the published forward interval in forecast_revenue_intervals both use it).
    For a forecast made on forecast_date for horizon_days, the band learns from the relative errors
    e = (predicted - actual) / actual of the total ("All customers") of the backtests whose horizon
    had ended by forecast_date (cutoff + horizon <= forecast_date: no look-ahead), with a horizon
    within var('forecast_band_horizon_tolerance_days') of the forecast's, the newest backtest of each
    cutoff. An error e means actual = predicted / (1 + e), so the model's interval is widened to
    [low * low_factor, high * high_factor] with low_factor = least(1, 1 / (1 + the largest e)) and
    high_factor = greatest(1, 1 / (1 + the smallest e)): never narrower than the model's own interval,
    and the model's alone (factors 1) when no backtest had ended.
-#}
{%- set one = 'cast(1 as ' ~ insiders.type_double() ~ ')' %}
with

backtests as (

    select * from {{ ref('int_backtests_ranked') }}

),

validation as (

    select * from {{ ref('stg_ml__forecast_validation') }}

),

fits as (

    select * from {{ ref('stg_ml__forecast_fits') }}

),

intervals as (

    select * from {{ ref('stg_ml__forecast_revenue_intervals') }}

),

past_errors as (

    -- a prediction of 0 (e = -1) tells no relative error
    select
        backtests.cutoff_date,
        backtests.horizon_days,
        validation.revenue_error_pct,
        {{ dbt.dateadd('day', 'backtests.horizon_days', 'backtests.cutoff_date') }} as known_at

    from backtests
    inner join validation on backtests.backtest_id = validation.backtest_id
    where
        backtests.is_latest_of_cutoff
        and validation.segment_name = 'All customers'
        and validation.revenue_error_pct > -1

),

forecasts as (

    select
        cutoff_date as forecast_date,
        horizon_days

    from backtests

    union

    select
        fits.as_of_date as forecast_date,
        intervals.horizon_days

    from intervals
    inner join fits on intervals.run_id = fits.run_id

),

bands as (

    select
        forecasts.forecast_date,
        forecasts.horizon_days,
        count(past_errors.revenue_error_pct) as band_backtests,
        min(past_errors.revenue_error_pct) as smallest_error_pct,
        max(past_errors.revenue_error_pct) as largest_error_pct

    from forecasts
    left join past_errors
        on
            past_errors.known_at <= forecasts.forecast_date
            and abs(past_errors.horizon_days - forecasts.horizon_days)
            <= {{ var('forecast_band_horizon_tolerance_days') | int }}
    group by forecasts.forecast_date, forecasts.horizon_days

),

final as (

    select
        forecast_date,
        horizon_days,
        band_backtests,
        smallest_error_pct,
        largest_error_pct,
        case
            when band_backtests = 0 then {{ one }}
            else least({{ one }}, {{ one }} / (1 + largest_error_pct))
        end as low_factor,
        case
            when band_backtests = 0 then {{ one }}
            else greatest({{ one }}, {{ one }} / (1 + smallest_error_pct))
        end as high_factor

    from bands

)

select * from final
