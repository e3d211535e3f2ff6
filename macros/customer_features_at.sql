{#-
    The customer features as of a reference date given as a SQL date expression: the one place the
    feature arithmetic lives. Two models render it: `customer_features` (as of the macro
    as_of_date()) and `backtest_customer_features` (as of backtest_cutoff(), for the backtest), so
    both are built by the same `dbt build` with the same vars.
-#}
{% macro customer_features_at(as_of_sql) %}
with

purchase_lines as (

    select * from {{ ref('int_purchase_lines') }}

),

return_lines as (

    select * from {{ ref('int_return_lines') }}

),

as_of_date as (

    -- the reference date: as_of_date() for the mart, backtest_cutoff() for the backtest
    select {{ as_of_sql }} as as_of_date

),

customer_purchase_lines as (

    -- only lines strictly before the reference date count; guests have no customer id, so their
    -- lines stay in the intermediate models and out of the features
    select
        purchase_lines.customer_id,
        purchase_lines.invoice_id,
        purchase_lines.stock_code,
        purchase_lines.quantity,
        purchase_lines.revenue,
        purchase_lines.invoiced_at,
        purchase_lines.country

    from purchase_lines
    inner join as_of_date on purchase_lines.invoiced_at < as_of_date.as_of_date
    where not purchase_lines.is_guest

),

customer_return_lines as (

    select
        return_lines.customer_id,
        return_lines.returned_quantity,
        return_lines.revenue_returned

    from return_lines
    inner join as_of_date on return_lines.invoiced_at < as_of_date.as_of_date
    where not return_lines.is_guest

),

invoices as (

    -- one row per customer purchase invoice; it counts on the day it was opened
    select
        customer_id,
        invoice_id,
        count(distinct stock_code) as basket_products,
        sum(quantity) as items,
        sum(revenue) as revenue,
        min(invoiced_at) as first_invoiced_at,
        max(invoiced_at) as last_invoiced_at,
        min(invoiced_at)::date as purchase_date

    from customer_purchase_lines
    group by customer_id, invoice_id

),

customer_invoices as (

    select
        customer_id,
        sum(revenue) as gross_revenue,
        sum(items) as items,
        count(*) as purchases,
        avg(basket_products) as avg_basket_products,
        min(first_invoiced_at) as first_purchase_at,
        max(last_invoiced_at) as last_purchase_at

    from invoices
    group by customer_id

),

purchase_days as (

    -- one row per customer and day with a purchase
    select
        customer_id,
        purchase_date,
        sum(revenue) as revenue,
        row_number() over (
            partition by customer_id
            order by purchase_date
        ) as purchase_day_number

    from invoices
    group by customer_id, purchase_date

),

customer_purchase_days as (

    select
        customer_id,
        count(*) as purchase_days,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        avg(revenue) filter (where purchase_day_number > 1) as avg_repeat_day_revenue

    from purchase_days
    group by customer_id

),

customer_products as (

    select
        customer_id,
        count(distinct stock_code) as products

    from customer_purchase_lines
    group by customer_id

),

customer_country_ranks as (

    select
        customer_id,
        country,
        -- the country of most purchase lines; ties go to the first name alphabetically
        row_number() over (
            partition by customer_id
            order by count(*) desc, country asc nulls last
        ) as country_rank

    from customer_purchase_lines
    group by customer_id, country

),

customer_countries as (

    select
        customer_id,
        country

    from customer_country_ranks
    where country_rank = 1

),

customer_returns as (

    select
        customer_id,
        sum(returned_quantity) as returned_items,
        sum(revenue_returned) as revenue_returned

    from customer_return_lines
    group by customer_id

),

features as (

    -- Day arithmetic uses purchase days (the day each invoice was opened). Sums of money stay exact
    -- (numeric); averages and rates are double precision, what the segmentation reads them as.
    select
        customer_invoices.customer_id,
        as_of_date.as_of_date,
        customer_countries.country,
        customer_invoices.first_purchase_at,
        customer_invoices.last_purchase_at,
        customer_invoices.gross_revenue,
        as_of_date.as_of_date - customer_purchase_days.last_purchase_date as recency_days,
        customer_invoices.purchases,
        customer_invoices.items,
        customer_products.products,
        customer_invoices.gross_revenue::double precision / customer_invoices.purchases as avg_order_value,
        case
            when customer_purchase_days.purchase_days > 1
                then
                    (customer_purchase_days.last_purchase_date - customer_purchase_days.first_purchase_date)
                    ::double precision
                    / (customer_purchase_days.purchase_days - 1)
        end as avg_days_between_purchases,
        -- the first purchase is strictly before as_of_date, so the divisor is at least 1
        customer_invoices.purchases::double precision
        / (as_of_date.as_of_date - customer_purchase_days.first_purchase_date) as purchase_frequency,
        coalesce(customer_returns.returned_items, 0) as returned_items,
        customer_invoices.items::double precision / customer_invoices.purchases as avg_basket_size,
        customer_invoices.avg_basket_products::double precision as avg_basket_products,
        coalesce(customer_returns.revenue_returned, 0) as revenue_returned,
        coalesce(customer_returns.returned_items, 0)::double precision
        / customer_invoices.items as returns_rate,
        -- lifetime summary in days (BG/NBD, Gamma-Gamma inputs of the forecast job)
        customer_purchase_days.purchase_days - 1 as repeat_purchase_days,
        customer_purchase_days.last_purchase_date
        - customer_purchase_days.first_purchase_date as active_span_days,
        as_of_date.as_of_date - customer_purchase_days.first_purchase_date as customer_age_days,
        customer_purchase_days.avg_repeat_day_revenue::double precision as avg_repeat_day_revenue

    from customer_invoices
    cross join as_of_date
    inner join customer_purchase_days on customer_invoices.customer_id = customer_purchase_days.customer_id
    inner join customer_products on customer_invoices.customer_id = customer_products.customer_id
    inner join customer_countries on customer_invoices.customer_id = customer_countries.customer_id
    left join customer_returns on customer_invoices.customer_id = customer_returns.customer_id

),

scored as (

    -- quintiles, 5 best; ties broken by customer_id so a rebuild gives the same scores
    select
        *,
        ntile(5) over (
            order by recency_days desc, customer_id asc
        ) as r_score,
        ntile(5) over (
            order by purchases asc, customer_id asc
        ) as f_score,
        ntile(5) over (
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
{% endmacro %}
