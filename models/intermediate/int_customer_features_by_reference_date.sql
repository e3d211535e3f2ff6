-- One row per reference date (int_reference_dates) and customer with a purchase before it: the one
-- place the feature arithmetic lives. customer_features and backtest_customer_features select from
-- it. Each input is a compact per-customer history (invoices, stock codes, country days, return
-- days) filtered by date < the reference date, so the inputs can grow incrementally.
{{ config(materialized='table') }}

with

reference_dates as (

    select * from {{ ref('int_reference_dates') }}

),

invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

products as (

    select * from {{ ref('int_customer_products') }}

),

country_days as (

    select * from {{ ref('int_customer_country_days') }}

),

return_days as (

    select * from {{ ref('int_customer_return_days') }}

),

invoices_before as (

    -- an invoice counts on the day it was opened
    select
        reference_dates.reference_name,
        reference_dates.reference_date,
        invoices.*

    from invoices
    inner join reference_dates on invoices.purchase_date < reference_dates.reference_date

),

purchase_days as (

    -- one row per customer and day with a purchase
    select
        reference_name,
        reference_date,
        customer_id,
        purchase_date,
        sum(revenue) as revenue,
        sum(items) as items,
        count(*) as invoices,
        sum(basket_products) as basket_products,
        min(opened_at) as first_opened_at,
        max(last_line_at) as last_line_at,
        row_number() over (
            partition by reference_name, customer_id
            order by purchase_date
        ) as purchase_day_number

    from invoices_before
    group by reference_name, reference_date, customer_id, purchase_date

),

customer_purchases as (

    select
        reference_name,
        reference_date,
        customer_id,
        sum(revenue) as gross_revenue,
        sum(items) as items,
        cast(sum(invoices) as {{ dbt.type_bigint() }}) as purchases,
        sum(basket_products) as basket_products,
        min(first_opened_at) as first_purchase_at,
        max(last_line_at) as last_purchase_at,
        count(*) as purchase_days,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        avg(case when purchase_day_number > 1 then revenue end) as avg_repeat_day_revenue

    from purchase_days
    group by reference_name, reference_date, customer_id

),

customer_products as (

    select
        reference_dates.reference_name,
        products.customer_id,
        count(*) as products

    from products
    inner join reference_dates on products.first_purchase_date < reference_dates.reference_date
    group by reference_dates.reference_name, products.customer_id

),

customer_country_ranks as (

    select
        reference_dates.reference_name,
        country_days.customer_id,
        country_days.country,
        -- the country of most purchase lines; ties go to the first name alphabetically
        row_number() over (
            partition by reference_dates.reference_name, country_days.customer_id
            order by sum(country_days.purchase_lines) desc, country_days.country asc nulls last
        ) as country_rank

    from country_days
    inner join reference_dates on country_days.purchase_date < reference_dates.reference_date
    group by reference_dates.reference_name, country_days.customer_id, country_days.country

),

customer_returns as (

    select
        reference_dates.reference_name,
        return_days.customer_id,
        cast(sum(return_days.returned_items) as {{ dbt.type_bigint() }}) as returned_items,
        sum(return_days.revenue_returned) as revenue_returned

    from return_days
    inner join reference_dates on return_days.return_date < reference_dates.reference_date
    group by reference_dates.reference_name, return_days.customer_id

),

customer_facts as (

    -- the per-customer parts side by side: a union and one grouping instead of joins, so the plan
    -- stays a few hash aggregates whatever the planner guesses about the parts' sizes
    select
        reference_name,
        customer_id,
        gross_revenue,
        items,
        purchases,
        basket_products,
        first_purchase_at,
        last_purchase_at,
        purchase_days,
        first_purchase_date,
        last_purchase_date,
        avg_repeat_day_revenue,
        cast(null as {{ dbt.type_bigint() }}) as products,
        cast(null as {{ dbt.type_string() }}) as country,
        cast(null as {{ dbt.type_bigint() }}) as returned_items,
        cast(null as {{ dbt.type_numeric() }}) as revenue_returned

    from customer_purchases

    union all

    select
        reference_name,
        customer_id,
        null as gross_revenue,
        null as items,
        null as purchases,
        null as basket_products,
        null as first_purchase_at,
        null as last_purchase_at,
        null as purchase_days,
        null as first_purchase_date,
        null as last_purchase_date,
        null as avg_repeat_day_revenue,
        products,
        null as country,
        null as returned_items,
        null as revenue_returned

    from customer_products

    union all

    select
        reference_name,
        customer_id,
        null as gross_revenue,
        null as items,
        null as purchases,
        null as basket_products,
        null as first_purchase_at,
        null as last_purchase_at,
        null as purchase_days,
        null as first_purchase_date,
        null as last_purchase_date,
        null as avg_repeat_day_revenue,
        null as products,
        country,
        null as returned_items,
        null as revenue_returned

    from customer_country_ranks
    where country_rank = 1

    union all

    select
        reference_name,
        customer_id,
        null as gross_revenue,
        null as items,
        null as purchases,
        null as basket_products,
        null as first_purchase_at,
        null as last_purchase_at,
        null as purchase_days,
        null as first_purchase_date,
        null as last_purchase_date,
        null as avg_repeat_day_revenue,
        null as products,
        null as country,
        returned_items,
        revenue_returned

    from customer_returns

),

customers as (

    select
        reference_dates.reference_name,
        reference_dates.reference_date,
        customer_facts.customer_id,
        max(customer_facts.gross_revenue) as gross_revenue,
        max(customer_facts.items) as items,
        max(customer_facts.purchases) as purchases,
        max(customer_facts.basket_products) as basket_products,
        max(customer_facts.first_purchase_at) as first_purchase_at,
        max(customer_facts.last_purchase_at) as last_purchase_at,
        max(customer_facts.purchase_days) as purchase_days,
        max(customer_facts.first_purchase_date) as first_purchase_date,
        max(customer_facts.last_purchase_date) as last_purchase_date,
        max(customer_facts.avg_repeat_day_revenue) as avg_repeat_day_revenue,
        max(customer_facts.products) as products,
        max(customer_facts.country) as country,
        max(customer_facts.returned_items) as returned_items,
        max(customer_facts.revenue_returned) as revenue_returned

    from customer_facts
    inner join reference_dates on customer_facts.reference_name = reference_dates.reference_name
    group by reference_dates.reference_name, reference_dates.reference_date, customer_facts.customer_id
    -- customers with a purchase before the reference date (a return alone makes no customer)
    having max(customer_facts.purchases) is not null

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
