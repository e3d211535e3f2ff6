{#-
    The revenue forecast of the next horizon with its 95% interval, per segment and for all customers,
    beside the same forecast made at the holdout cutoff and what really happened then (did its
    interval cover the actual?). `is_current` follows the run the marts show.
    The interval to read (revenue_low, revenue_high) is, for all customers, the model's widened by the
    errors of the backtests whose horizon had ended by as_of_date (int_forecast_error_bands, the rule
    forecast_validation checks at every cutoff); with no such backtest, and for the segments, it is
    the model's alone and not validated. How often that band covered the actual at those backtests
    (each band built only from errors known before its own cutoff) comes from forecast_validation.
-#}
with

runs as (

    select * from {{ ref('int_segmentation_runs_ranked') }}

),

fits as (

    select * from {{ ref('stg_ml__forecast_fits') }}

),

intervals as (

    select * from {{ ref('stg_ml__forecast_revenue_intervals') }}

),

segments as (

    select * from {{ ref('int_segments_named') }}

),

error_bands as (

    select * from {{ ref('int_forecast_error_bands') }}

),

validation as (

    select * from {{ ref('forecast_validation') }}

),

forecasts as (

    select
        intervals.run_id,
        runs.is_current,
        fits.as_of_date,
        -- a segment's row is keyed by its id in ml: the name is dbt's
        coalesce(segments.segment_name, intervals.segment_name) as segment_name,
        intervals.horizon_days,
        intervals.customers,
        intervals.predicted_revenue,
        intervals.revenue_low as model_revenue_low,
        intervals.revenue_high as model_revenue_high,
        intervals.is_seasonal,
        intervals.history_days,
        intervals.same_period_last_year_revenue,
        intervals.segment_name = 'All customers' as is_total,
        fits.holdout_cutoff_date,
        fits.holdout_days,
        fits.holdout_predicted_revenue,
        fits.holdout_revenue_low,
        fits.holdout_revenue_high,
        fits.holdout_actual_revenue

    from intervals
    inner join fits on intervals.run_id = fits.run_id
    inner join runs on intervals.run_id = runs.run_id
    left join segments
        on
            intervals.run_id = segments.run_id
            and intervals.segment_id = segments.segment_id

),

coverage as (

    -- the band at each backtest that had ended by the forecast date (the newest of each cutoff)
    select
        forecasts.run_id,
        forecasts.horizon_days,
        count(validation.backtest_id) as backtest_cutoffs_checked,
        sum(case when validation.earlier_backtests > 0 then 1 else 0 end) as band_cutoffs_checked,
        sum(
            case
                when validation.earlier_backtests > 0 and validation.is_covered_by_error_band then 1
                else 0
            end
        ) as band_cutoffs_covered,
        sum(case when validation.is_covered_by_model_interval then 1 else 0 end) as model_cutoffs_covered

    from forecasts
    inner join validation
        on
            validation.segment_name = 'All customers'
            and validation.is_latest_of_cutoff
            and abs(validation.horizon_days - forecasts.horizon_days)
            <= {{ var('forecast_band_horizon_tolerance_days') | int }}
            and {{ dbt.dateadd('day', 'validation.horizon_days', 'validation.cutoff_date') }}
            <= forecasts.as_of_date
    where forecasts.is_total
    group by forecasts.run_id, forecasts.horizon_days

),

banded as (

    select
        forecasts.*,
        case when forecasts.is_total then error_bands.band_backtests else 0 end as band_backtests,
        case when forecasts.is_total then error_bands.smallest_error_pct end as band_smallest_error_pct,
        case when forecasts.is_total then error_bands.largest_error_pct end as band_largest_error_pct,
        case
            when forecasts.is_total then forecasts.model_revenue_low * error_bands.low_factor
            else forecasts.model_revenue_low
        end as revenue_low,
        case
            when forecasts.is_total then forecasts.model_revenue_high * error_bands.high_factor
            else forecasts.model_revenue_high
        end as revenue_high,
        case when forecasts.is_total then coalesce(coverage.backtest_cutoffs_checked, 0) end
        as backtest_cutoffs_checked,
        case when forecasts.is_total then coalesce(coverage.band_cutoffs_checked, 0) end
        as band_cutoffs_checked,
        case when forecasts.is_total then coalesce(coverage.band_cutoffs_covered, 0) end
        as band_cutoffs_covered,
        case when forecasts.is_total then coalesce(coverage.model_cutoffs_covered, 0) end
        as model_cutoffs_covered

    from forecasts
    left join error_bands
        on
            forecasts.as_of_date = error_bands.forecast_date
            and forecasts.horizon_days = error_bands.horizon_days
    left join coverage
        on
            forecasts.run_id = coverage.run_id
            and forecasts.horizon_days = coverage.horizon_days

),

final as (

    select
        run_id,
        is_current,
        as_of_date,
        segment_name,
        horizon_days,
        customers,
        predicted_revenue,
        revenue_low,
        revenue_high,
        model_revenue_low,
        model_revenue_high,
        band_backtests,
        band_backtests > 0 as is_interval_validated,
        case
            when band_backtests > 0 then 'model widened by earlier backtest errors'
            else 'model alone, not validated'
        end as interval_basis,
        band_smallest_error_pct,
        band_largest_error_pct,
        backtest_cutoffs_checked,
        model_cutoffs_covered,
        band_cutoffs_checked,
        band_cutoffs_covered,
        is_seasonal,
        history_days,
        same_period_last_year_revenue,
        holdout_cutoff_date,
        holdout_days,
        holdout_predicted_revenue,
        holdout_revenue_low,
        holdout_revenue_high,
        holdout_actual_revenue,
        (holdout_predicted_revenue - holdout_actual_revenue)
        / nullif(holdout_actual_revenue, 0) as holdout_revenue_error_pct,
        holdout_actual_revenue between holdout_revenue_low and holdout_revenue_high
        as is_holdout_covered

    from banded

)

select * from final
