with

runs as (

    select * from {{ ref('int_segmentation_runs_ranked') }}

),

labels as (

    select * from {{ ref('stg_ml__customer_segments') }}

),

segments as (

    select * from {{ ref('int_segments_named') }}

),

features as (

    select * from {{ ref('customer_features') }}

),

current_labels as (

    select labels.*
    from labels
    inner join runs on labels.run_id = runs.run_id
    where runs.is_current

),

final as (

    select
        features.customer_id,
        current_labels.run_id,
        segments.segment_id,
        segments.segment_name,
        segments.is_insider,
        current_labels.distance_to_centre,
        current_labels.segment_probability,
        features.as_of_date,
        features.country,
        features.first_purchase_at,
        features.last_purchase_at,
        features.gross_revenue,
        features.recency_days,
        features.purchases,
        features.items,
        features.products,
        features.avg_order_value,
        features.avg_days_between_purchases,
        features.purchase_frequency,
        features.returned_items,
        features.revenue_returned,
        features.returns_rate,
        features.avg_basket_size,
        features.avg_basket_products,
        features.r_score,
        features.f_score,
        features.m_score,
        features.rfm_score

    from features
    inner join current_labels on features.customer_id = current_labels.customer_id
    inner join segments
        on
            current_labels.run_id = segments.run_id
            and current_labels.segment_id = segments.segment_id

)

select * from final
