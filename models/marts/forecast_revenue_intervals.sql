{#-
    The revenue forecast of the next horizon with its 95% interval, per segment and for all customers,
    beside the same forecast made at the holdout cutoff and what really happened then (did its
    interval cover the actual?). `is_current` follows the run the marts show.
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

final as (

    select
        intervals.run_id,
        runs.is_current,
        fits.as_of_date,
        intervals.segment_name,
        intervals.horizon_days,
        intervals.customers,
        intervals.predicted_revenue,
        intervals.revenue_low,
        intervals.revenue_high,
        intervals.is_seasonal,
        intervals.same_period_last_year_revenue,
        fits.holdout_cutoff_date,
        fits.holdout_days,
        fits.holdout_predicted_revenue,
        fits.holdout_revenue_low,
        fits.holdout_revenue_high,
        fits.holdout_actual_revenue,
        (fits.holdout_predicted_revenue - fits.holdout_actual_revenue)
        / nullif(fits.holdout_actual_revenue, 0) as holdout_revenue_error_pct,
        fits.holdout_actual_revenue between fits.holdout_revenue_low and fits.holdout_revenue_high
        as is_holdout_covered

    from intervals
    inner join fits on intervals.run_id = fits.run_id
    inner join runs on intervals.run_id = runs.run_id

)

select * from final
