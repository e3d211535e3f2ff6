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

customer_invoices as (

    select
        reference_name,
        reference_date,
        customer_id,
        sum(revenue) as gross_revenue,
        sum(items) as items,
        count(*) as purchases,
        avg(basket_products) as avg_basket_products,
        min(opened_at) as first_purchase_at,
        max(last_line_at) as last_purchase_at

    from invoices_before
    group by reference_name, reference_date, customer_id

),

purchase_days as (

    -- one row per customer and day with a purchase
    select
        reference_name,
        customer_id,
        purchase_date,
        sum(revenue) as revenue,
        row_number() over (
            partition by reference_name, customer_id
            order by purchase_date
        ) as purchase_day_number

    from invoices_before
    group by reference_name, customer_id, purchase_date

),

customer_purchase_days as (

    select
        reference_name,
        customer_id,
        count(*) as purchase_days,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        avg(case when purchase_day_number > 1 then revenue end) as avg_repeat_day_revenue

    from purchase_days
    group by reference_name, customer_id

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

customer_countries as (

    select
        reference_name,
        customer_id,
        country

    from customer_country_ranks
    where country_rank = 1

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

features as (

    -- Day arithmetic uses purchase days (the day each invoice was opened). Sums of money stay exact
    -- (decimal); averages and rates are 64-bit floats, what the segmentation reads them as.
    select
        customer_invoices.reference_name,
        customer_invoices.customer_id,
        customer_invoices.reference_date as as_of_date,
        customer_countries.country,
        customer_invoices.first_purchase_at,
        customer_invoices.last_purchase_at,
        customer_invoices.gross_revenue,
        {{ dbt.datediff(
            'customer_purchase_days.last_purchase_date', 'customer_invoices.reference_date', 'day'
        ) }} as recency_days,
        customer_invoices.purchases,
        customer_invoices.items,
        customer_products.products,
        cast(customer_invoices.gross_revenue as {{ type_double() }})
        / customer_invoices.purchases as avg_order_value,
        case
            when customer_purchase_days.purchase_days > 1
                then
                    cast({{ dbt.datediff(
                        'customer_purchase_days.first_purchase_date',
                        'customer_purchase_days.last_purchase_date',
                        'day'
                    ) }} as {{ type_double() }})
                    / (customer_purchase_days.purchase_days - 1)
        end as avg_days_between_purchases,
        -- the first purchase is strictly before the reference date, so the divisor is at least 1
        cast(customer_invoices.purchases as {{ type_double() }})
        / {{ dbt.datediff(
            'customer_purchase_days.first_purchase_date', 'customer_invoices.reference_date', 'day'
        ) }} as purchase_frequency,
        coalesce(customer_returns.returned_items, 0) as returned_items,
        cast(customer_invoices.items as {{ type_double() }}) / customer_invoices.purchases as avg_basket_size,
        cast(customer_invoices.avg_basket_products as {{ type_double() }}) as avg_basket_products,
        coalesce(customer_returns.revenue_returned, 0) as revenue_returned,
        cast(coalesce(customer_returns.returned_items, 0) as {{ type_double() }})
        / customer_invoices.items as returns_rate,
        -- lifetime summary in days (BG/NBD, Gamma-Gamma inputs of the forecast job)
        customer_purchase_days.purchase_days - 1 as repeat_purchase_days,
        {{ dbt.datediff(
            'customer_purchase_days.first_purchase_date', 'customer_purchase_days.last_purchase_date', 'day'
        ) }} as active_span_days,
        {{ dbt.datediff(
            'customer_purchase_days.first_purchase_date', 'customer_invoices.reference_date', 'day'
        ) }} as customer_age_days,
        cast(customer_purchase_days.avg_repeat_day_revenue as {{ type_double() }}) as avg_repeat_day_revenue

    from customer_invoices
    inner join customer_purchase_days
        on
            customer_invoices.reference_name = customer_purchase_days.reference_name
            and customer_invoices.customer_id = customer_purchase_days.customer_id
    inner join customer_products
        on
            customer_invoices.reference_name = customer_products.reference_name
            and customer_invoices.customer_id = customer_products.customer_id
    inner join customer_countries
        on
            customer_invoices.reference_name = customer_countries.reference_name
            and customer_invoices.customer_id = customer_countries.customer_id
    left join customer_returns
        on
            customer_invoices.reference_name = customer_returns.reference_name
            and customer_invoices.customer_id = customer_returns.customer_id

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
