-- One row per backtest and selection group: the customers in it, their net revenue in the horizon and
-- its share of the horizon's net revenue of all customers known at the cutoff.
with

customer_groups as (

    select * from {{ ref('int_backtest_customer_groups') }}

),

memberships as (

    {% for group_name in ['insiders', 'top_past_revenue', 'top_rfm', 'oracle'] %}
        select
            backtest_id,
            '{{ group_name }}' as group_name,
            {{ loop.index }} as group_order,
            actual_revenue,
            actual_purchases,
            is_in_{{ group_name }} as is_member
        from customer_groups
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

totals as (

    select
        backtest_id,
        sum(actual_revenue) as total_future_revenue

    from customer_groups
    group by backtest_id

),

groups as (

    select
        backtest_id,
        group_name,
        group_order,
        sum(case when is_member then 1 else 0 end) as customers,
        sum(case when is_member then actual_revenue else 0 end) as future_revenue,
        sum(case when is_member and actual_purchases > 0 then 1 else 0 end) as future_buyers

    from memberships
    group by backtest_id, group_name, group_order

),

final as (

    select
        groups.backtest_id,
        groups.group_name,
        groups.group_order,
        groups.customers,
        groups.future_revenue,
        case
            when totals.total_future_revenue > 0
                then groups.future_revenue / totals.total_future_revenue
            else 0
        end as share_of_future_revenue,
        groups.future_buyers

    from groups
    inner join totals on groups.backtest_id = totals.backtest_id

)

select * from final
