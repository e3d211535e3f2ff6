{{ config(**customer_history_config(['customer_id', 'invoice_id'])) }}

-- One row per customer purchase invoice: the compact history the features as of any date filter.
-- An invoice counts, whole, from the day it was opened (its first line). Incremental: the customers
-- with purchase lines in new files are recomputed from all their lines (see customer_history_config).
with

purchase_lines as (

    select * from {{ ref('int_purchase_lines') }}

),

customer_purchase_lines as (

    -- guests have no customer id: their lines stay out of the customer features
    select * from purchase_lines
    where not is_guest
    {%- if is_incremental() %}
        and customer_id in ({{ customers_with_new_lines(ref('int_purchase_lines')) }})
    {%- endif %}

),

final as (

    select
        customer_id,
        invoice_id,
        min(invoiced_at) as opened_at,
        max(invoiced_at) as last_line_at,
        cast(min(invoiced_at) as date) as purchase_date,
        sum(revenue) as revenue,
        sum(quantity) as items,
        count(distinct stock_code) as basket_products,
        max(classified_at) as last_classified_at

    from customer_purchase_lines
    group by customer_id, invoice_id

)

select * from final
