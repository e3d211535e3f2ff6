{{ config(
    materialized='incremental',
    incremental_strategy='append',
    unlogged=true,
    indexes=[{'columns': ['file_id']}, {'columns': ['classified_at']}],
    on_schema_change='append_new_columns',
) }}

{#-
    A table, not a view: it is the one place the staged lines are computed (casts included), and the
    purchase lines, the return lines, the reference date and tests read it. Incremental by loaded
    file: a build appends the lines of the loaded files (raw.files) it does not hold yet, whatever
    order their loads committed in, and a line never changes once loaded. Each build stamps its lines
    with classified_at: the customer histories and the tests of the lines take the lines stamped
    after what they have seen. `--full-refresh` rebuilds it from all lines (needed after a change of
    the seed non_product_stock_codes: old lines keep the classification they were built with).
    Unlogged (no WAL): a database crash empties it, and the next build refills it from all lines,
    stamped anew, so the histories (logged tables) recompute every customer. The indexes (Postgres)
    find a file's lines and a build's lines without a scan.
-#}

with

transactions as (

    -- depends_on: {{ ref('stg_shop__files') }} (the incremental filter below)
    select * from {{ ref('stg_shop__transactions') }}
    {%- if is_incremental() %}
        -- the ids as literals: Postgres then reads only these files' lines (a subquery here would
        -- make it stage every line before filtering)
        where file_id in ({{ files_not_in(ref('stg_shop__files'), this) | join(', ') or 'null' }})
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
        ) as is_return_line,
        {{ dbt.current_timestamp() }} as classified_at

    from transactions
    left join stock_codes on transactions.stock_code = stock_codes.stock_code

)

select * from final
