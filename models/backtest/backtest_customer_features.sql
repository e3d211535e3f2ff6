-- One row per customer with a purchase before the backtest cutoff (int_reference_dates), built into
-- schema backtest as customer_features; the segmentation job segments them for the backtest.
{{ config(materialized='table', schema='backtest', alias='customer_features') }}

with

features as (

    select * from {{ ref('int_customer_features_by_reference_date') }}

),

final as (

    select
        {{ customer_feature_columns() | join(',\n        ') }}

    from features
    where reference_name = 'backtest_cutoff'

)

select * from final
