with

customers as (

    select * from {{ ref('customer_segments') }}

),

segments as (

    select * from {{ ref('int_segments_named') }}

),

playbook as (

    select * from {{ ref('segment_playbook') }}

),

per_segment as (

    select
        run_id,
        segment_id,
        segment_name,
        is_insider,
        count(*) as customers,
        sum(gross_revenue) as gross_revenue,
        avg(gross_revenue) as mean_gross_revenue,
        percentile_cont(0.5) within group (
            order by gross_revenue
        ) as median_gross_revenue,
        avg(recency_days) as mean_recency_days,
        percentile_cont(0.5) within group (
            order by recency_days
        ) as median_recency_days,
        avg(purchases) as mean_purchases,
        percentile_cont(0.5) within group (
            order by purchases
        ) as median_purchases,
        avg(items) as mean_items,
        avg(products) as mean_products,
        avg(avg_order_value) as mean_order_value,
        percentile_cont(0.5) within group (
            order by avg_order_value
        ) as median_order_value,
        avg(avg_basket_size) as mean_basket_size,
        avg(avg_basket_products) as mean_basket_products,
        avg(avg_days_between_purchases) as mean_days_between_purchases,
        avg(purchase_frequency) as mean_purchase_frequency,
        sum(returned_items) as returned_items,
        cast(sum(returned_items) as {{ type_exact_decimal() }}) / nullif(sum(items), 0) as returns_rate,
        avg(r_score) as mean_r_score,
        avg(f_score) as mean_f_score,
        avg(m_score) as mean_m_score

    from customers
    group by run_id, segment_id, segment_name, is_insider

),

final as (

    select
        per_segment.*,
        segments.share_of_customers,
        segments.share_of_revenue,
        playbook.goal,
        playbook.recommended_action,
        playbook.channel

    from per_segment
    inner join segments
        on
            per_segment.run_id = segments.run_id
            and per_segment.segment_id = segments.segment_id
    -- segments that share an archetype ("At risk", "At risk (2)") share its playbook entry
    left join playbook on segments.archetype = playbook.segment_name

)

select * from final
