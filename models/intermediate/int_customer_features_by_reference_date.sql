-- One row per reference date (int_reference_dates) and customer with a purchase before it: the one
-- place the feature arithmetic lives. customer_features and backtest_customer_features select from
-- it. The customers' totals before each reference date come from int_customer_facts_by_reference_date
-- (incremental: only the customers whose histories or dates changed are recomputed there); the day
-- arithmetic and the quintiles, which depend on the reference date and on every customer, are
-- computed here, each build.
{{ config(materialized='table') }}

with

reference_dates as (

    select * from {{ ref('int_reference_dates') }}

),

facts as (

    select * from {{ ref('int_customer_facts_by_reference_date') }}

),

customers as (

    -- customers with a purchase before the reference date (a return alone makes no customer); the
    -- date is the current one (a row not recomputed holds as of it, see the facts)
    select
        facts.reference_name,
        reference_dates.reference_date,
        facts.customer_id,
        facts.gross_revenue,
        facts.items,
        facts.purchases,
        facts.basket_products,
        facts.first_purchase_at,
        facts.last_purchase_at,
        facts.purchase_days,
        facts.first_purchase_date,
        facts.last_purchase_date,
        facts.avg_repeat_day_revenue,
        facts.products,
        facts.country,
        facts.returned_items,
        facts.revenue_returned

    from facts
    inner join reference_dates on facts.reference_name = reference_dates.reference_name
    where facts.purchases is not null

),

features as (

    -- Day arithmetic uses purchase days (the day each invoice was opened). Sums of money stay exact
    -- (decimal); averages and rates are 64-bit floats, what the segmentation reads them as.
    select
        reference_name,
        customer_id,
        reference_date as as_of_date,
        country,
        first_purchase_at,
        last_purchase_at,
        gross_revenue,
        {{ dbt.datediff(
            'last_purchase_date', 'reference_date', 'day'
        ) }} as recency_days,
        purchases,
        items,
        products,
        cast(gross_revenue as {{ type_double() }}) / purchases as avg_order_value,
        case
            when purchase_days > 1
                then
                    cast({{ dbt.datediff(
                        'first_purchase_date', 'last_purchase_date', 'day'
                    ) }} as {{ type_double() }})
                    / (purchase_days - 1)
        end as avg_days_between_purchases,
        -- the first purchase is strictly before the reference date, so the divisor is at least 1
        cast(purchases as {{ type_double() }})
        / {{ dbt.datediff(
            'first_purchase_date', 'reference_date', 'day'
        ) }} as purchase_frequency,
        coalesce(returned_items, 0) as returned_items,
        cast(items as {{ type_double() }}) / purchases as avg_basket_size,
        -- the mean over invoices, as a decimal first (what avg() gives), then a float
        cast(basket_products / purchases as {{ type_double() }}) as avg_basket_products,
        coalesce(revenue_returned, 0) as revenue_returned,
        gross_revenue - coalesce(revenue_returned, 0) as net_revenue,
        cast(coalesce(returned_items, 0) as {{ type_double() }}) / items as returns_rate,
        -- lifetime summary in days (BG/NBD, Gamma-Gamma inputs of the forecast job)
        purchase_days - 1 as repeat_purchase_days,
        {{ dbt.datediff(
            'first_purchase_date', 'last_purchase_date', 'day'
        ) }} as active_span_days,
        {{ dbt.datediff(
            'first_purchase_date', 'reference_date', 'day'
        ) }} as customer_age_days,
        cast(avg_repeat_day_revenue as {{ type_double() }}) as avg_repeat_day_revenue

    from customers

),

scored as (

    -- quintiles per reference date, 5 best; ties broken by customer_id so a rebuild gives the same
    select
        *,
        ntile(5) over (
            partition by reference_name
            order by recency_days desc, customer_id asc
        ) as r_score,
        ntile(5) over (
            partition by reference_name
            order by purchases asc, customer_id asc
        ) as f_score,
        ntile(5) over (
            partition by reference_name
            order by gross_revenue asc, customer_id asc
        ) as m_score

    from features

),

final as (

    select
        *,
        r_score + f_score + m_score as rfm_score

    from scored

)

select * from final
