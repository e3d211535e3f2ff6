{{ config(**customer_history_config(['reference_name', 'customer_id'])) }}

{#-
    One row per reference date (int_reference_dates) and customer with a history row (a purchase
    invoice or a return day): the customer's totals before that date, from the compact histories;
    the totals are null where the customer has nothing before it. The features
    (int_customer_features_by_reference_date) compute the date arithmetic and the quintiles from it.
    Incremental (Postgres: delete+insert on customer_id; Spark: merge on the grain, or a plain table
    on Parquet, see customer_history_config): a build recomputes, for every reference date, the
    customers whose history rows were classified after the newest stamp it holds, and, for a
    reference date that moved since the newest build that wrote rows here, the customers with a
    history row dated between the old and the new date (the rows whose inclusion flips). The other
    customers' totals are the same as of either date. A recomputed customer gets a row per
    reference date even without totals, so none of its old rows can stay behind.
-#}

with

reference_dates as (

    select * from {{ ref('int_reference_dates') }}

),

{%- if is_incremental() %}

    previous_build as (

        select
            max(computed_at) as computed_at,
            max(last_classified_at) as last_classified_at

        from {{ this }}

    ),

    previous_reference_dates as (

        -- the reference dates of the newest build that wrote rows: every row holds as of them
        select
            built.reference_name,
            max(built.reference_date) as reference_date

        from {{ this }} as built
        inner join previous_build on built.computed_at = previous_build.computed_at
        group by built.reference_name

    ),

    moved_reference_dates as (

        -- a reference date that moved: the history rows dated from the earlier to the later date flip;
        -- a reference date without a previous one: every row counts (from the earliest date there is)
        select
            reference_dates.reference_name,
            case
                when previous_reference_dates.reference_date is null then cast('0001-01-01' as date)
                when previous_reference_dates.reference_date < reference_dates.reference_date
                    then previous_reference_dates.reference_date
                else reference_dates.reference_date
            end as moved_from,
            case
                when previous_reference_dates.reference_date is null then reference_dates.reference_date
                when previous_reference_dates.reference_date > reference_dates.reference_date
                    then previous_reference_dates.reference_date
                else reference_dates.reference_date
            end as moved_to

        from reference_dates
        left join previous_reference_dates
            on reference_dates.reference_name = previous_reference_dates.reference_name
        where
            previous_reference_dates.reference_date is null
            or previous_reference_dates.reference_date != reference_dates.reference_date

    ),

    recomputed_customers as (

        -- the histories by ref(), not through CTEs: a CTE read twice is materialised (a copy of each
        -- history) by Postgres; a join, not a correlated exists: Spark takes no correlated range condition
        {%- for history_model, history_date in [
            ('int_customer_invoices', 'purchase_date'),
            ('int_customer_products', 'first_purchase_date'),
            ('int_customer_country_days', 'purchase_date'),
            ('int_customer_return_days', 'return_date'),
        ] %}
            {%- if not loop.first %}

        union
            {%- endif %}

        select history.customer_id
        from {{ ref(history_model) }} as history
        cross join previous_build
        left join moved_reference_dates
            on
                history.{{ history_date }} >= moved_reference_dates.moved_from
                and history.{{ history_date }} < moved_reference_dates.moved_to
        where
            history.last_classified_at > previous_build.last_classified_at
            or previous_build.last_classified_at is null
            or moved_reference_dates.reference_name is not null
        {%- endfor %}
    ),

{%- endif %}

invoices as (

    select * from {{ ref('int_customer_invoices') }}
    {%- if is_incremental() %}
        where customer_id in (select recomputed_customers.customer_id from recomputed_customers)
    {%- endif %}

),

products as (

    select * from {{ ref('int_customer_products') }}
    {%- if is_incremental() %}
        where customer_id in (select recomputed_customers.customer_id from recomputed_customers)
    {%- endif %}

),

country_days as (

    select * from {{ ref('int_customer_country_days') }}
    {%- if is_incremental() %}
        where customer_id in (select recomputed_customers.customer_id from recomputed_customers)
    {%- endif %}

),

return_days as (

    select * from {{ ref('int_customer_return_days') }}
    {%- if is_incremental() %}
        where customer_id in (select recomputed_customers.customer_id from recomputed_customers)
    {%- endif %}

),

invoices_before as (

    -- an invoice counts on the day it was opened
    select
        reference_dates.reference_name,
        invoices.*

    from invoices
    inner join reference_dates on invoices.purchase_date < reference_dates.reference_date

),

purchase_days as (

    -- one row per customer and day with a purchase
    select
        reference_name,
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
    group by reference_name, customer_id, purchase_date

),

customer_purchases as (

    select
        reference_name,
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

history_stamps as (

    -- every line of products and country days is a purchase line, on an invoice of the customer: the
    -- invoices and the return days hold each customer's newest stamp (by ref(), not through the CTEs
    -- above: a CTE read twice is materialised, a copy of the history)
    select
        customer_id,
        last_classified_at

    from {{ ref('int_customer_invoices') }}
    {%- if is_incremental() %}
        where customer_id in (select recomputed_customers.customer_id from recomputed_customers)
    {%- endif %}

    union all

    select
        customer_id,
        last_classified_at

    from {{ ref('int_customer_return_days') }}
    {%- if is_incremental() %}
        where customer_id in (select recomputed_customers.customer_id from recomputed_customers)
    {%- endif %}

),

customer_stamps as (

    -- the customers with a history row, and when their newest line was classified
    select
        customer_id,
        max(last_classified_at) as last_classified_at

    from history_stamps
    group by customer_id

),

customer_facts as (

    -- the per-customer parts side by side: a union and one grouping instead of joins, so the plan
    -- stays a few hash aggregates whatever the planner guesses about the parts' sizes; the last part
    -- gives every customer with a history row a row per reference date
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

    union all

    select
        reference_dates.reference_name,
        customer_stamps.customer_id,
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
        null as returned_items,
        null as revenue_returned

    from customer_stamps
    cross join reference_dates

),

customers as (

    select
        reference_dates.reference_name,
        -- the date these totals were computed as of (rows not recomputed keep theirs: their totals
        -- are the same as of the current one)
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

),

final as (

    select
        customers.*,
        customer_stamps.last_classified_at,
        {{ dbt.current_timestamp() }} as computed_at

    from customers
    inner join customer_stamps on customers.customer_id = customer_stamps.customer_id

)

select * from final
