with

source as (

    select * from {{ source('ml', 'forecast_validation') }}

),

renamed as (

    select
        backtest_id,
        segment_name,
        customers,
        predicted_revenue,
        actual_revenue,
        predicted_purchases,
        actual_purchases,
        revenue_error,
        revenue_error_pct,
        predicted_revenue_low,
        predicted_revenue_high

    from source

)

select * from renamed
