{#-
    Each customer's path to the Insiders: for every customer who is not an Insider, the Insiders entry
    rule (the decision tree's rules that predict an Insider, marts.insider_rules) they are nearest to —
    the smallest sum of the unmet conditions' gaps relative to their thresholds (a recency condition
    counts 0.5: one new order meets it), then the fewest unmet conditions — and what is missing to
    meet it, with the segment's recommended action. The tree tests "x > t" and "x <= t" on
    original-unit features; orders and products are whole numbers, so "> 7.5" needs 8.
-#}
{%- set rule_features = ['gross_revenue', 'purchases', 'recency_days', 'products', 'avg_order_value'] -%}
{%- set bigint = dbt.type_bigint() -%}
{%- set text = dbt.type_string() -%}

with

customers as (

    select * from {{ ref('customer_segments') }}

),

rules as (

    select * from {{ ref('insider_rules') }}

),

conditions as (

    select * from {{ ref('stg_ml__insider_rule_conditions') }}

),

segments as (

    select * from {{ ref('segment_summary') }}

),

candidates as (

    select * from customers
    where not is_insider

),

feature_values as (

    {% for feature in rule_features %}
        select
            run_id,
            customer_id,
            '{{ feature }}' as feature,
            cast({{ feature }} as {{ type_double() }}) as feature_value
        from candidates
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

entry_conditions as (

    select conditions.*
    from conditions
    inner join rules
        on
            conditions.run_id = rules.run_id
            and conditions.rule_id = rules.rule_id
    where rules.predicts_insider

),

customer_conditions as (

    select
        feature_values.customer_id,
        entry_conditions.rule_id,
        entry_conditions.condition_id,
        entry_conditions.feature,
        entry_conditions.operator,
        entry_conditions.threshold,
        feature_values.feature_value,
        case
            when entry_conditions.operator = '>'
                then feature_values.feature_value > entry_conditions.threshold
            else feature_values.feature_value <= entry_conditions.threshold
        end as is_met,
        -- how far the customer is: for "> t" the amount to add (whole numbers: to the next integer
        -- above t), for "<= t" the amount over t
        case
            when
                entry_conditions.operator = '>'
                and entry_conditions.feature in ('purchases', 'products', 'recency_days')
                then floor(entry_conditions.threshold) + 1 - feature_values.feature_value
            when entry_conditions.operator = '>'
                then entry_conditions.threshold - feature_values.feature_value
            else feature_values.feature_value - entry_conditions.threshold
        end as gap

    from feature_values
    inner join entry_conditions
        on
            feature_values.run_id = entry_conditions.run_id
            and feature_values.feature = entry_conditions.feature

),

numbers_as_text as (

    select
        *,
        cast(cast(ceiling(gap) as {{ bigint }}) as {{ text }}) as gap_text,
        cast(cast(feature_value as {{ bigint }}) as {{ text }}) as value_text,
        cast(cast(floor(threshold) as {{ bigint }}) as {{ text }}) as threshold_text

    from customer_conditions

),

gaps as (

    select
        *,
        case
            when is_met then null
            when feature = 'gross_revenue' and operator = '>'
                then 'GBP ' || gap_text || ' more revenue'
            when feature = 'avg_order_value' and operator = '>'
                then 'GBP ' || gap_text || ' more per order on average'
            when feature = 'purchases' and operator = '>'
                then gap_text || case when gap = 1 then ' more order' else ' more orders' end
            when feature = 'products' and operator = '>'
                then gap_text || case when gap = 1 then ' more product' else ' more different products' end
            when feature = 'recency_days'
                then 'a new order (the last was ' || value_text || ' days ago; the rule needs '
                    || threshold_text || ' or fewer)'
            else feature || ' at most ' || threshold_text || ' (has ' || value_text
                || '; the rule is for customers below it)'
        end as missing_text

    from numbers_as_text

),

rule_distances as (

    select
        customer_id,
        rule_id,
        sum(case when is_met then 0 else 1 end) as unmet_conditions,
        sum(
            case
                when is_met then 0
                when feature = 'recency_days' then 0.5
                else gap / nullif(abs(threshold), 0)
            end
        ) as relative_gap,
        sum(
            case when not is_met and feature = 'gross_revenue' and operator = '>' then gap else 0 end
        ) as revenue_gap,
        sum(
            case when not is_met and feature = 'purchases' and operator = '>' then gap else 0 end
        ) as orders_gap

    from gaps
    group by customer_id, rule_id

),

nearest as (

    select
        customer_id,
        rule_id,
        unmet_conditions,
        relative_gap,
        revenue_gap,
        orders_gap,
        row_number() over (
            partition by customer_id
            order by relative_gap asc, unmet_conditions asc, rule_id asc
        ) as nearness_rank

    from rule_distances

),

missing as (

    select
        gaps.customer_id,
        {{ ordered_listagg('gaps.missing_text', "'; '", 'gaps.condition_id') }} as missing

    from gaps
    inner join nearest
        on
            gaps.customer_id = nearest.customer_id
            and gaps.rule_id = nearest.rule_id
    where nearest.nearness_rank = 1 and not gaps.is_met
    group by gaps.customer_id

),

final as (

    select
        candidates.customer_id,
        candidates.run_id,
        candidates.segment_id,
        candidates.segment_name,
        nearest.rule_id as nearest_rule_id,
        rules.rule_text as nearest_rule_text,
        coalesce(nearest.unmet_conditions, 0) as unmet_conditions,
        coalesce(nearest.revenue_gap, 0) as revenue_gap,
        cast(coalesce(nearest.orders_gap, 0) as {{ dbt.type_int() }}) as orders_gap,
        case
            when nearest.rule_id is null then 'no Insiders entry rule in this run'
            when nearest.unmet_conditions = 0
                then 'meets the rule already (the rules only approximate the segment)'
            else missing.missing
        end as missing,
        segments.recommended_action

    from candidates
    left join nearest
        on
            candidates.customer_id = nearest.customer_id
            and nearest.nearness_rank = 1
    left join rules
        on
            candidates.run_id = rules.run_id
            and nearest.rule_id = rules.rule_id
    left join missing on candidates.customer_id = missing.customer_id
    left join segments
        on
            candidates.run_id = segments.run_id
            and candidates.segment_id = segments.segment_id

)

select * from final
