with

source as (

    select * from {{ source('ml', 'customer_forecasts') }}

),

renamed as (

    select
        run_id,
        customer_id,
        probability_alive,
        expected_order_value,
        expected_purchases_30d,
        expected_purchases_90d,
        expected_purchases_180d,
        expected_revenue_30d,
        expected_revenue_90d,
        expected_revenue_180d,
        probability_purchase_30d,
        probability_purchase_90d,
        probability_purchase_180d

    from source

)

select * from renamed
