-- One row per customer and stock code bought: the day it was first bought (for `products` as of a date).
with

purchase_lines as (

    select * from {{ ref('int_purchase_lines') }}

),

final as (

    select
        customer_id,
        stock_code,
        cast(min(invoiced_at) as date) as first_purchase_date

    from purchase_lines
    where not is_guest
    group by customer_id, stock_code

)

select * from final
