{{ config(materialized='table', unlogged=true) }}

{#-
    A table, not a view: it is the one place the 541k staged lines are computed (casts included),
    and the purchase lines, the return lines, the reference date (macro as_of_date) and tests read it. Unlogged (no WAL,
    ~10% faster to build): it is rebuilt by every run, and a database crash would only empty it
    until the next one (the marts are logged tables).
-#}

with

transactions as (

    select * from {{ ref('stg_shop__transactions') }}

),

stock_codes as (

    select * from {{ ref('int_stock_codes_classified') }}

),

final as (

    select
        transactions.*,
        coalesce(stock_codes.is_product, false) as is_product,
        stock_codes.non_product_reason,
        coalesce(
            not transactions.has_cast_error
            and not transactions.is_cancellation
            and not transactions.is_adjustment
            and transactions.quantity > 0
            and transactions.unit_price > 0
            and stock_codes.is_product,
            false
        ) as is_purchase_line,
        coalesce(
            not transactions.has_cast_error
            and transactions.is_cancellation
            and transactions.quantity < 0
            and stock_codes.is_product,
            false
        ) as is_return_line

    from transactions
    left join stock_codes on transactions.stock_code = stock_codes.stock_code

)

select * from final
