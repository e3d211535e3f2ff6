with

transactions as (

    select * from {{ ref('int_transactions_classified') }}

),

final as (

    select
        transaction_line_id,
        file_id,
        classified_at,
        invoice_id,
        customer_id,
        is_guest,
        stock_code,
        quantity,
        unit_price,
        quantity * unit_price as revenue,
        invoiced_at,
        country

    from transactions
    where is_purchase_line

)

select * from final
