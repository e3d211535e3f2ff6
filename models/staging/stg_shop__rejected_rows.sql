with

source as (

    select * from {{ source('shop', 'rejected_rows') }}

),

final as (

    select
        {{ dbt.cast('file_id', dbt.type_string()) }}
        || '-'
        || {{ dbt.cast('line_number', dbt.type_string()) }} as rejected_row_id,
        file_id,
        line_number,
        raw_line,
        reason

    from source

)

select * from final
