{#-
    Each line is cast by the rules of its own file's layout (layouts/*.yml), recorded with the file in
    raw.files by the loader: the date pattern and the group of each date part, the decimal and
    thousands separators, the cancellation and adjustment prefixes. Two files of different layouts in
    the same database are each read correctly. This is the one place where text becomes typed values.

    Casting happens once per distinct text of a file, not once per line: the 541,909 lines of the
    shared file hold ~23k distinct invoice dates, ~1.6k prices and ~700 quantities. Each lookup CTE
    groups the raw texts of a file and is joined back on (file_id, raw text).

    Every cast is guarded, so a bad value becomes null (and has_cast_error) instead of failing the
    build: a date is cut into its numbers by the layout's pattern (regex_groups) and
    timestamp_from_parts range-checks them, so 2/31/2011 becomes null, not an error.

    Order lines already in the warehouse: when the layout names a relation (`source:`), the cycle
    sets the var `shop_relation` (schema, table, the registered file_id, the column of each standard
    name and which ones are typed) and the lines come from that relation (source shop_warehouse)
    instead of raw.transactions; typed columns are used as they are, text ones parsed as above.
-#}

with

source as {{ not_materialized() }} (

    {{ shop_lines(var('shop_relation', none)) }}

),

files as (

    select * from {{ source('shop', 'files') }}

),

quantities as (

    -- grouped by (file, text) only, so the cast runs once per distinct text of a file and the
    -- planner can hash the 541k lines; a file's rules are one value per group (max() just picks it)
    select
        source.file_id,
        source.quantity as quantity_text,
        {{ safe_cast_integer(layout_number_text(
            'source.quantity', 'max(files.decimal_separator)', 'max(files.thousands_separator)'
        )) }} as quantity

    from source
    inner join files on source.file_id = files.file_id
    group by source.file_id, source.quantity

),

unit_prices as (

    select
        source.file_id,
        source.unit_price as unit_price_text,
        {{ safe_cast_numeric(layout_number_text(
            'source.unit_price', 'max(files.decimal_separator)', 'max(files.thousands_separator)'
        )) }} as unit_price

    from source
    inner join files on source.file_id = files.file_id
    group by source.file_id, source.unit_price

),

invoice_date_matches as (

    -- the file's date pattern applied once per distinct text (grouped: later steps read the result)
    select
        source.file_id,
        source.invoice_date as invoice_date_text,
        {{ regex_groups('trim(source.invoice_date)', 'max(files.date_pattern)') }} as date_groups

    from source
    inner join files on source.file_id = files.file_id
    group by source.file_id, source.invoice_date

),

invoice_date_groups as (

    -- the text of each date part (null when the pattern did not match or the part is absent)
    select
        invoice_date_matches.file_id,
        invoice_date_matches.invoice_date_text,
        files.is_two_digit_year,
        files.is_month_name,
        files.date_ampm_group is not null as has_am_pm,
        {%- for part in ['year', 'month', 'day', 'hour', 'minute', 'second', 'ampm'] %}
        {{ array_element(
            'invoice_date_matches.date_groups', 'files.date_' ~ part ~ '_group'
        ) }} as {{ part }}_text,
        {%- endfor %}
        invoice_date_matches.date_groups is not null as is_date_shaped

    from invoice_date_matches
    inner join files on invoice_date_matches.file_id = files.file_id

),

invoice_date_parts as (

    -- the groups hold digits only (or a month name, AM/PM) once the pattern matched: casts are safe
    select
        file_id,
        invoice_date_text,
        case
            when not is_date_shaped then null
            when is_two_digit_year and cast(year_text as {{ dbt.type_int() }}) < 69
                then cast(year_text as {{ dbt.type_int() }}) + 2000
            when is_two_digit_year then cast(year_text as {{ dbt.type_int() }}) + 1900
            else cast(year_text as {{ dbt.type_int() }})
        end as year_part,
        case
            when not is_date_shaped then null
            when is_month_name then {{ month_from_name('month_text') }}
            else cast(month_text as {{ dbt.type_int() }})
        end as month_part,
        case when is_date_shaped then cast(day_text as {{ dbt.type_int() }}) end as day_part,
        case
            when not is_date_shaped then null
            when not has_am_pm then coalesce(cast(hour_text as {{ dbt.type_int() }}), 0)
            when cast(hour_text as {{ dbt.type_int() }}) not between 1 and 12 then null
            else
                mod(cast(hour_text as {{ dbt.type_int() }}), 12)
                + case when lower(ampm_text) = 'pm' then 12 else 0 end
        end as hour_part,
        case
            when is_date_shaped then coalesce(cast(minute_text as {{ dbt.type_int() }}), 0)
        end as minute_part,
        case
            when is_date_shaped then coalesce(cast(second_text as {{ dbt.type_int() }}), 0)
        end as second_part

    from invoice_date_groups

),

invoice_dates as (

    select
        file_id,
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
        coalesce(source.typed_quantity, quantities.quantity) as quantity,
        coalesce(source.typed_unit_price, unit_prices.unit_price) as unit_price,
        coalesce(source.typed_invoiced_at, invoice_dates.invoiced_at) as invoiced_at,
        -- '17850.0' (a float export) and '17850' are the same customer
        case
            when source.customer_id like '%.%'
                then nullif({{ regex_replace('trim(source.customer_id)', '^([0-9]+)\\.0*$', '\\1') }}, '')
            else nullif(trim(source.customer_id), '')
        end as customer_id,
        nullif(trim(source.country), '') as country,
        files.cancellation_prefix,
        files.adjustment_prefix

    from source
    left join files on source.file_id = files.file_id
    left join quantities
        on source.file_id = quantities.file_id and source.quantity = quantities.quantity_text
    left join unit_prices
        on source.file_id = unit_prices.file_id and source.unit_price = unit_prices.unit_price_text
    left join invoice_dates
        on source.file_id = invoice_dates.file_id and source.invoice_date = invoice_dates.invoice_date_text

),

final as (

    select
        {{ dbt.concat([
            'cast(file_id as ' ~ dbt.type_string() ~ ')', "'-'", 'cast(line_number as ' ~ dbt.type_string() ~ ')'
        ]) }} as transaction_line_id,
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
        coalesce(
            substring(invoice_id, 1, length(cancellation_prefix)) = cancellation_prefix, false
        ) as is_cancellation,
        coalesce(
            substring(invoice_id, 1, length(adjustment_prefix)) = adjustment_prefix, false
        ) as is_adjustment,
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
