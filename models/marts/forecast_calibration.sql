{#-
    The purchase-probability models as checked on the forecast's holdout: per run, model and decile
    of predicted probability, the predicted vs the actual share of buyers, beside the model's Brier
    score and its skill over the base rate. `is_current` follows the run the marts show.
-#}
with

runs as (

    select * from {{ ref('int_segmentation_runs_ranked') }}

),

fits as (

    select * from {{ ref('stg_ml__forecast_fits') }}

),

scores as (

    select * from {{ ref('stg_ml__forecast_model_scores') }}

),

deciles as (

    select * from {{ ref('stg_ml__forecast_calibration') }}

),

final as (

    select
        deciles.run_id,
        runs.is_current,
        fits.as_of_date,
        fits.holdout_cutoff_date,
        fits.holdout_days,
        deciles.model_name,
        scores.is_chosen,
        deciles.decile,
        deciles.customers,
        deciles.mean_predicted,
        deciles.actual_share,
        deciles.calibration_gap,
        deciles.min_predicted,
        deciles.max_predicted,
        scores.customers as holdout_customers,
        scores.buyers as holdout_buyers,
        scores.brier_score,
        scores.log_loss,
        scores.base_rate,
        scores.brier_base_rate,
        scores.brier_skill,
        scores.max_decile_gap

    from deciles
    inner join scores
        on deciles.run_id = scores.run_id and deciles.model_name = scores.model_name
    inner join fits on deciles.run_id = fits.run_id
    inner join runs on deciles.run_id = runs.run_id

)

select * from final
