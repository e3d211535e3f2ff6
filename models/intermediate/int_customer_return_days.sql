{{ config(**customer_history_config(['customer_id', 'return_date'])) }}

-- One row per customer and day with return lines: items and revenue returned that day. A return
-- lands on its own day, whatever file or day its original invoice came in. Incremental: see
-- customer_history_config.
with

return_lines as (

    select * from {{ ref('int_return_lines') }}

),

customer_return_lines as (

    select * from return_lines
    where not is_guest
    {%- if is_incremental() %}
        and customer_id in ({{ customers_with_new_lines(ref('int_return_lines')) }})
    {%- endif %}

),

final as (

    select
        customer_id,
        cast(invoiced_at as date) as return_date,
        sum(returned_quantity) as returned_items,
        sum(revenue_returned) as revenue_returned,
        max(classified_at) as last_classified_at

    from customer_return_lines
    group by customer_id, cast(invoiced_at as date)

)

select * from final
