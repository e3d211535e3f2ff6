-- One row per customer with a purchase before the current reference date (int_reference_dates).
with

features as (

    select * from {{ ref('int_customer_features_by_reference_date') }}

),

final as (

    select
        {{ customer_feature_columns() | join(',\n        ') }}

    from features
    where reference_name = 'current'

)

select * from final
