{{ config(**customer_history_config(['customer_id', 'country', 'purchase_date'])) }}

-- One row per customer, country and day with purchase lines: how many lines (for the customer's
-- country as of a date: the country of most purchase lines). Incremental: see customer_history_config.
with

purchase_lines as (

    select * from {{ ref('int_purchase_lines') }}

),

customer_purchase_lines as (

    select * from purchase_lines
    where not is_guest
    {%- if is_incremental() %}
        and customer_id in ({{ customers_with_new_lines(ref('int_purchase_lines')) }})
    {%- endif %}

),

final as (

    select
        customer_id,
        country,
        cast(invoiced_at as date) as purchase_date,
        count(*) as purchase_lines,
        max(classified_at) as last_classified_at

    from customer_purchase_lines
    group by customer_id, country, cast(invoiced_at as date)

)

select * from final
