-- Data quality of the load: for every loaded file, the lines staged and the rows rejected match
-- the counts the loader recorded in raw.files. Returns the files that do not add up. Checks the files
-- not yet classified (macros/incremental/get_where_subquery.sql): an earlier build checked the others.

with

files as (

    select * from {{ ref('stg_shop__files') }}

),

transactions as (

    select * from {{ ref('stg_shop__transactions') }}

),

rejected_rows as (

    select * from {{ ref('stg_shop__rejected_rows') }}

),

staged as (

    select
        file_id,
        count(*) as staged_rows

    from transactions
    where {{ files_not_yet_classified('file_id') }}
    group by file_id

),

rejected as (

    select
        file_id,
        count(*) as rejected_rows

    from rejected_rows
    group by file_id

),

final as (

    select
        files.file_id,
        files.file_name,
        files.rows_in_file,
        files.rows_loaded,
        coalesce(staged.staged_rows, 0) as staged_rows,
        files.rows_rejected,
        coalesce(rejected.rejected_rows, 0) as rejected_rows

    from files
    left join staged on files.file_id = staged.file_id
    left join rejected on files.file_id = rejected.file_id
    where
        files.is_loaded
        and {{ files_not_yet_classified('files.file_id') }}
        and files.source_uri not like 'warehouse:%'  -- a relation is read live: its count is a snapshot
        and (
            files.rows_loaded is distinct from coalesce(staged.staged_rows, 0)
            or coalesce(files.rows_rejected, 0) != coalesce(rejected.rejected_rows, 0)
        )

)

select * from final
