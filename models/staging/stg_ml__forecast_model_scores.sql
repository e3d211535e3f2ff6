with

source as (

    select * from {{ source('ml', 'forecast_model_scores') }}

),

renamed as (

    select
        run_id,
        model_name,
        customers,
        buyers,
        mean_predicted,
        brier_score,
        log_loss,
        base_rate,
        brier_base_rate,
        brier_skill,
        max_decile_gap,
        is_chosen

    from source

)

select * from renamed
