{#-
    Casting happens once per distinct text, not once per line: the 541,909 lines of the shared file
    hold ~23k distinct invoice dates, ~1.6k prices and ~700 quantities, and a regex per line costs
    seconds in Postgres. Each lookup CTE groups the raw texts (so its expressions run once per text,
    and Postgres can skip the join when a query does not read the cast column) and is joined back
    on the raw text: the only joins in staging, all to the same source table.

    Every cast is guarded, so a bad value becomes null (and has_cast_error) instead of failing the
    build. Invoice dates are read in the shop's format, `12/1/2010 8:26` (month/day/year, 24h clock),
    or in ISO form, `2010-12-01 08:26[:ss]`: a regex recognises the shape, the text is cut into its
    numbers and timestamp_from_parts range-checks them, so 2/31/2011 becomes null, not an error.
-#}
{%- set month_day_year_pattern = '^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4} [0-9]{1,2}:[0-9]{2}(:[0-9]{2})?$' -%}
{%- set iso_pattern = '^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2})?$' %}

with

source as not materialized (

    select * from {{ source('shop', 'transactions') }}

),

quantities as (

    select
        quantity as quantity_text,
        {{ safe_cast_integer('trim(quantity)') }} as quantity

    from source
    group by quantity

),

unit_prices as (

    select
        unit_price as unit_price_text,
        {{ safe_cast_numeric('trim(unit_price)') }} as unit_price

    from source
    group by unit_price

),

invoice_date_texts as (

    select
        invoice_date as invoice_date_text,
        case
            when trim(invoice_date) ~ '{{ month_day_year_pattern }}' then 'month/day/year'
            when trim(invoice_date) ~ '{{ iso_pattern }}' then 'iso'
        end as invoice_date_format,
        -- the numbers in the order written: month, day, year, hour, minute[, second] in the shop's
        -- format, year, month, day, hour, minute[, second] in ISO; all digits once the shape matched
        string_to_array(translate(trim(invoice_date), '/-T:', '    '), ' ') as numbers

    from source
    group by invoice_date

),

invoice_date_parts as (

    select
        invoice_date_text,
        case invoice_date_format
            when 'month/day/year' then numbers[3]::integer
            when 'iso' then numbers[1]::integer
        end as year_part,
        case invoice_date_format
            when 'month/day/year' then numbers[1]::integer
            when 'iso' then numbers[2]::integer
        end as month_part,
        case invoice_date_format
            when 'month/day/year' then numbers[2]::integer
            when 'iso' then numbers[3]::integer
        end as day_part,
        case when invoice_date_format is not null then numbers[4]::integer end as hour_part,
        case when invoice_date_format is not null then numbers[5]::integer end as minute_part,
        case when invoice_date_format is not null then coalesce(numbers[6]::integer, 0) end as second_part

    from invoice_date_texts

),

invoice_dates as (

    select
        invoice_date_text,
        {{ timestamp_from_parts(
            'year_part', 'month_part', 'day_part', 'hour_part', 'minute_part', 'second_part'
        ) | indent(8) }} as invoiced_at

    from invoice_date_parts

),

joined as (

    select
        source.file_id,
        source.line_number,
        upper(nullif(trim(source.invoice_no), '')) as invoice_id,
        upper(nullif(trim(source.stock_code), '')) as stock_code,
        nullif(trim(source.description), '') as description,
        quantities.quantity,
        unit_prices.unit_price,
        invoice_dates.invoiced_at,
        -- '17850.0' (a float export) and '17850' are the same customer
        case
            when source.customer_id like '%.%'
                then nullif(regexp_replace(trim(source.customer_id), '^([0-9]+)\.0*$', '\1'), '')
            else nullif(trim(source.customer_id), '')
        end as customer_id,
        nullif(trim(source.country), '') as country

    from source
    left join quantities on source.quantity = quantities.quantity_text
    left join unit_prices on source.unit_price = unit_prices.unit_price_text
    left join invoice_dates on source.invoice_date = invoice_dates.invoice_date_text

),

final as (

    select
        file_id::text || '-' || line_number::text as transaction_line_id,
        file_id,
        line_number,
        invoice_id,
        stock_code,
        description,
        quantity,
        unit_price,
        invoiced_at,
        customer_id,
        country,
        coalesce(invoice_id like 'C%', false) as is_cancellation,
        coalesce(invoice_id like 'A%', false) as is_adjustment,
        customer_id is null as is_guest,
        -- the required typed fields that are missing or could not be cast, e.g. 'quantity, invoice_date'
        nullif(
            concat_ws(
                ', ',
                case when quantity is null then 'quantity' end,
                case when unit_price is null then 'unit_price' end,
                case when invoiced_at is null then 'invoice_date' end
            ),
            ''
        ) as cast_error_columns,
        (quantity is null or unit_price is null or invoiced_at is null) as has_cast_error

    from joined

)

select * from final
