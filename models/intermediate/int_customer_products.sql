{{ config(**customer_history_config(['customer_id', 'stock_code'])) }}

-- One row per customer and stock code bought: the day it was first bought (for `products` as of a date).
-- Incremental: see customer_history_config.
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
        stock_code,
        cast(min(invoiced_at) as date) as first_purchase_date,
        max(classified_at) as last_classified_at

    from customer_purchase_lines
    group by customer_id, stock_code

)

select * from final
