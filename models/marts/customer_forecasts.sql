with

customers as (

    select * from {{ ref('customer_segments') }}

),

forecasts as (

    select * from {{ ref('stg_ml__customer_forecasts') }}

),

final as (

    select
        customers.customer_id,
        customers.run_id,
        customers.segment_id,
        customers.segment_name,
        customers.is_insider,
        customers.as_of_date,
        customers.gross_revenue,
        customers.recency_days,
        customers.purchases,
        forecasts.probability_alive,
        forecasts.expected_order_value,
        forecasts.expected_purchases_30d,
        forecasts.expected_purchases_90d,
        forecasts.expected_purchases_180d,
        forecasts.expected_revenue_30d,
        forecasts.expected_revenue_90d,
        forecasts.expected_revenue_180d,
        forecasts.probability_purchase_30d,
        forecasts.probability_purchase_90d,
        forecasts.probability_purchase_180d

    from customers
    inner join forecasts
        on customers.run_id = forecasts.run_id and customers.customer_id = forecasts.customer_id

)

select * from final
