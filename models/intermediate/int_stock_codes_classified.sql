{{ config(materialized='table') }}

{#-
    A table (a few thousand rows): the transactions join it, and its tests then do not re-read the
    staged lines.
-#}

with

transactions as (

    select * from {{ ref('stg_shop__transactions') }}

),

non_product_stock_codes as (

    select * from {{ ref('non_product_stock_codes') }}

),

stock_codes as (

    select
        stock_code,
        count(*) as transaction_lines

    from transactions
    where stock_code is not null
    group by stock_code

),

non_product_matches as (

    -- stock codes are upper-cased in staging; the seed may be written in any case
    select
        stock_codes.stock_code,
        non_product_stock_codes.stock_code as non_product_rule,
        non_product_stock_codes.reason as non_product_reason,
        -- a code matched by several rules keeps the most specific one: exact, then longest prefix
        row_number() over (
            partition by stock_codes.stock_code
            order by
                non_product_stock_codes.match_type = 'exact' desc,
                length(non_product_stock_codes.stock_code) desc
        ) as match_rank

    from stock_codes
    inner join non_product_stock_codes
        on
            (
                non_product_stock_codes.match_type = 'exact'
                and stock_codes.stock_code = upper(trim(non_product_stock_codes.stock_code))
            )
            or (
                non_product_stock_codes.match_type = 'prefix'
                -- starts_with, not like: the `_` of GIFT_ would be a wildcard in a like pattern
                and {{ text_starts_with(
                    'stock_codes.stock_code', 'upper(trim(non_product_stock_codes.stock_code))'
                ) }}
            )

),

final as (

    select
        stock_codes.stock_code,
        non_product_matches.stock_code is null as is_product,
        non_product_matches.non_product_rule,
        non_product_matches.non_product_reason,
        stock_codes.transaction_lines

    from stock_codes
    left join non_product_matches
        on
            stock_codes.stock_code = non_product_matches.stock_code
            and non_product_matches.match_rank = 1

)

select * from final
