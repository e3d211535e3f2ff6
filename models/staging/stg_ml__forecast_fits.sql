with

source as (

    select * from {{ source('ml', 'forecast_fits') }}

),

renamed as (

    select
        run_id,
        purpose,
        as_of_date,
        fitted_at,
        n_customers,
        n_repeat_customers,
        bg_r,
        bg_alpha,
        bg_a,
        bg_b,
        gg_p,
        gg_q,
        gg_v,
        time_unit,
        pnbd_r,
        pnbd_alpha,
        pnbd_s,
        pnbd_beta,
        purchase_model,
        alive_model,
        holdout_cutoff as holdout_cutoff_date,
        holdout_days,
        holdout_predicted_revenue,
        holdout_revenue_low,
        holdout_revenue_high,
        holdout_actual_revenue

    from source

)

select * from renamed
