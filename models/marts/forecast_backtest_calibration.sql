-- Calibration of the purchase probabilities at the backtest cutoffs: per cutoff, horizon and decile of
-- the predicted chance of at least one purchase, the mean predicted chance vs the actual share of
-- buyers; per cutoff the Brier score vs the base-rate predictor (every customer gets the horizon's
-- share of buyers) and the worst decile gap. From the per-customer backtest rows.
with

predictions as (

    select * from {{ ref('backtest_customer_predictions') }}

),

outcomes as (

    select
        cutoff_date,
        horizon_days,
        backtest_id,
        customer_id,
        probability_purchase,
        cast(case when has_purchased then 1 else 0 end as {{ type_double() }}) as has_purchased_value,
        ntile(10) over (
            partition by cutoff_date, horizon_days
            order by probability_purchase, customer_id
        ) as decile

    from predictions

),

cutoff_scores as (

    select
        cutoff_date,
        horizon_days,
        count(*) as cutoff_customers,
        avg(has_purchased_value) as base_rate,
        avg(
            (probability_purchase - has_purchased_value) * (probability_purchase - has_purchased_value)
        ) as brier_score

    from outcomes
    group by cutoff_date, horizon_days

),

deciles as (

    select
        cutoff_date,
        horizon_days,
        max(backtest_id) as backtest_id,
        decile,
        count(*) as customers,
        min(probability_purchase) as min_predicted,
        max(probability_purchase) as max_predicted,
        avg(probability_purchase) as mean_predicted,
        avg(has_purchased_value) as actual_share

    from outcomes
    group by cutoff_date, horizon_days, decile

),

gaps as (

    select
        deciles.*,
        deciles.mean_predicted - deciles.actual_share as gap,
        max(abs(deciles.mean_predicted - deciles.actual_share)) over (
            partition by deciles.cutoff_date, deciles.horizon_days
        ) as worst_decile_gap

    from deciles

),

final as (

    select
        gaps.cutoff_date,
        gaps.horizon_days,
        gaps.backtest_id,
        gaps.decile,
        gaps.customers,
        gaps.min_predicted,
        gaps.max_predicted,
        gaps.mean_predicted,
        gaps.actual_share,
        gaps.gap,
        gaps.worst_decile_gap,
        cutoff_scores.cutoff_customers,
        cutoff_scores.base_rate,
        cutoff_scores.brier_score,
        cutoff_scores.base_rate * (1 - cutoff_scores.base_rate) as base_rate_brier_score,
        1 - cutoff_scores.brier_score
        / nullif(cutoff_scores.base_rate * (1 - cutoff_scores.base_rate), 0) as brier_skill

    from gaps
    inner join cutoff_scores
        on
            gaps.cutoff_date = cutoff_scores.cutoff_date
            and gaps.horizon_days = cutoff_scores.horizon_days

)

select * from final
