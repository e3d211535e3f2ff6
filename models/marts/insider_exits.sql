-- Customers who left the Insiders in the current run, and how each clustering feature changed for
-- them, in units of the feature's spread among all customers, so features compare with each other.
with

memberships as (

    select * from {{ ref('int_segment_memberships_compared') }}

),

current_memberships as (

    select * from memberships
    where is_current

),

-- one lateral per select: Spark cannot tell the key columns of two laterals in one from clause apart
values_before as (

    select
        current_memberships.customer_id,
        before_values.key as feature,
        cast(before_values.value as {{ type_exact_decimal() }}) as value_before

    from current_memberships
    cross join lateral {{ json_each_text('current_memberships.features_before') }} as before_values

),

values_now as (

    select
        current_memberships.customer_id,
        current_memberships.was_insider,
        current_memberships.is_insider,
        current_memberships.to_segment,
        now_values.key as feature,
        cast(now_values.value as {{ type_exact_decimal() }}) as value_now

    from current_memberships
    cross join lateral {{ json_each_text('current_memberships.features_now') }} as now_values

),

feature_values as (

    select
        values_now.customer_id,
        values_now.was_insider,
        values_now.is_insider,
        values_now.to_segment,
        values_now.feature,
        values_now.value_now,
        values_before.value_before

    from values_now
    left join values_before
        on values_now.customer_id = values_before.customer_id and values_now.feature = values_before.feature

),

spreads as (

    select
        feature,
        stddev_samp(value_now) as feature_stddev

    from feature_values
    group by feature

),

changes as (

    select
        feature_values.customer_id,
        feature_values.to_segment as segment_now,
        feature_values.feature,
        feature_values.value_before,
        feature_values.value_now,
        feature_values.value_now - feature_values.value_before as value_change,
        (feature_values.value_now - feature_values.value_before)
        / nullif(spreads.feature_stddev, 0) as standardized_change

    from feature_values
    inner join spreads on feature_values.feature = spreads.feature
    where feature_values.was_insider and not feature_values.is_insider

),

final as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by abs(standardized_change) desc nulls last, feature asc
        ) as change_rank

    from changes

)

select * from final
