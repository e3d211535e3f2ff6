with

source as (

    select * from {{ source('shop', 'files') }}

),

final as (

    select
        file_id,
        file_name,
        source_uri,
        sha256,
        etag,
        size_bytes,
        encoding,
        layout_name,
        rows_in_file,
        rows_loaded,
        rows_rejected,
        status,
        error as error_message,
        status = 'loaded' as is_loaded,
        started_at,
        loaded_at

    from source

)

select * from final
