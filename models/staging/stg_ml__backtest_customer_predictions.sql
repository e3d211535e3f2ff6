with

source as (

    select * from {{ source('ml', 'backtest_customer_predictions') }}

),

renamed as (

    select
        backtest_id,
        customer_id,
        segment_name,
        is_insider,
        past_gross_revenue,
        rfm_score,
        probability_purchase,
        expected_purchases,
        expected_revenue,
        actual_purchases,
        actual_revenue

    from source

)

select * from renamed
