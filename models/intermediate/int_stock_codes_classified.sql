{{ config(**append_config()) }}

{#-
    A table (a few thousand rows): the transactions join it, and its tests then do not re-read the
    staged lines. Incremental by loaded file, like int_transactions_classified (built just before
    it): a build reads the staged lines of the files that int_transactions_classified does not hold
    yet and appends the codes it does not hold yet. A failed build retried reads the same files
    again and appends nothing twice (a code is appended only if absent), and a code never changes
    once classified: `--full-refresh` rebuilds it (after a change of the seed non_product_stock_codes,
    as int_transactions_classified needs it too).
-#}

with

transactions as (

    -- depends_on: {{ ref('stg_shop__files') }} (the incremental filter below)
    select * from {{ ref('stg_shop__transactions') }}
    {%- if is_incremental() %}
        {%- set classified = model_relation('int_transactions_classified') %}
        {%- if classified is not none %}
            -- the ids as literals (see int_transactions_classified); none: no line is read
            where file_id in ({{ files_not_in(ref('stg_shop__files'), classified) | join(', ') or 'null' }})
        {%- endif %}
    {%- endif %}

),

non_product_stock_codes as (

    select * from {{ ref('non_product_stock_codes') }}

),

stock_codes as (

    select distinct stock_code

    from transactions
    where stock_code is not null
    {%- if is_incremental() %}
        and stock_code not in (select classified.stock_code from {{ this }} as classified)
    {%- endif %}

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
        non_product_matches.non_product_reason

    from stock_codes
    left join non_product_matches
        on
            stock_codes.stock_code = non_product_matches.stock_code
            and non_product_matches.match_rank = 1

)

select * from final
