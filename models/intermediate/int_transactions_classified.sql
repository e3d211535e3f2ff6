{{ config(
    materialized='incremental',
    incremental_strategy='append',
    unlogged=true,
    indexes=[{'columns': ['file_id']}],
) }}

{#-
    A table, not a view: it is the one place the staged lines are computed (casts included), and the
    purchase lines, the return lines, the reference date and tests read it. Incremental by loaded
    file: a build appends the lines of the files loaded after the newest file it holds (file ids
    grow: files are loaded one at a time, under the cycle lock, each in one transaction), and a line
    never changes once loaded. `--full-refresh` rebuilds it from all lines (needed after a change of
    the seed non_product_stock_codes: old lines keep the classification they were built with).
    Unlogged (no WAL): a database crash empties it, and the next build refills it from all lines;
    the histories built from it are logged tables and keep what they hold. The index on file_id
    (Postgres) finds the newest file and the new lines without a scan.
-#}

with

transactions as (

    select * from {{ ref('stg_shop__transactions') }}
    {%- if is_incremental() %}
        where file_id > (select coalesce(max(file_id), 0) from {{ this }})
    {%- endif %}

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
