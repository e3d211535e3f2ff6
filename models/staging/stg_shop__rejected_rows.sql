with

source as (

    select * from {{ source('shop', 'rejected_rows') }}

),

final as (

    select
        file_id::text || '-' || line_number::text as rejected_row_id,
        file_id,
        line_number,
        raw_line,
        reason

    from source

)

select * from final
