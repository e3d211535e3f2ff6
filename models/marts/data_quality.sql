-- What each load attempt brought in and what could not be used, for the "Model health" dashboard.
with

files as (

    select * from {{ ref('stg_shop__files') }}

),

transactions as (

    select * from {{ ref('int_transactions_classified') }}

),

line_counts as (

    select
        file_id,
        count(*) filter (where has_cast_error) as rows_with_cast_errors,
        count(*) filter (where is_guest) as guest_rows,
        count(*) filter (where is_purchase_line) as purchase_lines,
        count(*) filter (where is_return_line) as return_lines,
        min(invoiced_at) as first_invoiced_at,
        max(invoiced_at) as last_invoiced_at

    from transactions
    group by file_id

),

final as (

    select
        files.file_id,
        files.file_name,
        files.source_uri,
        files.status,
        files.is_loaded,
        files.error_message,
        files.encoding,
        files.size_bytes,
        files.started_at,
        files.loaded_at,
        files.rows_in_file,
        files.rows_loaded,
        files.rows_rejected,
        coalesce(line_counts.rows_with_cast_errors, 0) as rows_with_cast_errors,
        coalesce(line_counts.guest_rows, 0) as guest_rows,
        coalesce(line_counts.purchase_lines, 0) as purchase_lines,
        coalesce(line_counts.return_lines, 0) as return_lines,
        line_counts.first_invoiced_at,
        line_counts.last_invoiced_at

    from files
    left join line_counts on files.file_id = line_counts.file_id

)

select * from final
