with

source as (

    select * from {{ source('ml', 'forecast_revenue_intervals') }}

),

renamed as (

    select
        run_id,
        segment_name,
        segment_id,
        horizon_days,
        customers,
        predicted_revenue,
        revenue_low,
        revenue_high,
        is_seasonal,
        history_days,
        same_period_last_year_revenue

    from source

)

select * from renamed
