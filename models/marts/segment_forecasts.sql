with

forecasts as (

    select * from {{ ref('customer_forecasts') }}

),

final as (

    select
        run_id,
        segment_id,
        segment_name,
        is_insider,
        count(*) as customers,
        avg(probability_alive) as mean_probability_alive,
        avg(probability_purchase_30d) as mean_probability_purchase_30d,
        avg(probability_purchase_90d) as mean_probability_purchase_90d,
        avg(probability_purchase_180d) as mean_probability_purchase_180d,
        sum(expected_purchases_30d) as expected_purchases_30d,
        sum(expected_purchases_90d) as expected_purchases_90d,
        sum(expected_purchases_180d) as expected_purchases_180d,
        sum(expected_revenue_30d) as expected_revenue_30d,
        sum(expected_revenue_90d) as expected_revenue_90d,
        sum(expected_revenue_180d) as expected_revenue_180d,
        sum(expected_revenue_90d) / sum(sum(expected_revenue_90d)) over () as share_of_expected_revenue_90d

    from forecasts
    group by run_id, segment_id, segment_name, is_insider

)

select * from final
