-- One row per customer, country and day with purchase lines: how many lines (for the customer's
-- country as of a date: the country of most purchase lines).
with

purchase_lines as (

    select * from {{ ref('int_purchase_lines') }}

),

final as (

    select
        customer_id,
        country,
        cast(invoiced_at as date) as purchase_date,
        count(*) as purchase_lines

    from purchase_lines
    where not is_guest
    group by customer_id, country, cast(invoiced_at as date)

)

select * from final
