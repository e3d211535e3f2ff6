-- One row per customer and day with return lines: items and revenue returned that day.
with

return_lines as (

    select * from {{ ref('int_return_lines') }}

),

final as (

    select
        customer_id,
        cast(invoiced_at as date) as return_date,
        sum(returned_quantity) as returned_items,
        sum(revenue_returned) as revenue_returned

    from return_lines
    where not is_guest
    group by customer_id, cast(invoiced_at as date)

)

select * from final
