with

source as (

    select * from {{ source('ml', 'forecast_calibration') }}

),

renamed as (

    select
        run_id,
        model_name,
        decile,
        customers,
        mean_predicted,
        actual_share,
        min_predicted,
        max_predicted,
        gap as calibration_gap

    from source

)

select * from renamed
