-- The key of int_transactions_classified (transaction_line_id, `<file_id>-<line_number>`): one row per
-- raw line, none missing, none twice. Cheaper than `unique` + `not_null` on the 54 M ids of 100x (a
-- sort or hash of every id: 157 s of the cold 100x build), and it proves the same rule:
-- - the source's key: raw.transactions has the primary key (file_id, line_number) (Postgres; on Spark
--   the loader numbers a file's lines once and writes them into the file's own partition), so the
--   staged lines of a file are distinct by line_number, and loaded_files_reconcile proves that a file
--   stages exactly raw.files.rows_loaded lines;
-- - here, per file with lines not yet tested (macros/incremental/get_where_subquery.sql), ALL its
--   classified lines are counted: a count equal to rows_loaded means no line appended twice (a file
--   appended again, in this build or a later one) and no join that fans out (two rows for a line);
--   every id present (not null);
-- - lines of a warehouse relation (source_uri 'warehouse:...', rows_loaded a snapshot, line numbers
--   from the layout's line_id column) keep the direct check: their ids unique among them.
-- The files to check and the warehouse files are queried first and written as literals: Postgres then
-- reads those files' lines by the index on file_id (a subquery made it scan every line, each build).
-- Returns one row per file that does not add up, and one per id seen twice in a warehouse relation.

{%- set condition = lines_not_yet_tested() %}
{%- set check_ids = none %}
{%- set warehouse_ids = [] %}
{%- if execute %}
    {%- if condition != 'true' %}
        {%- set check_ids = run_query(
            'select distinct file_id from ' ~ ref('int_transactions_classified') ~ ' where ' ~ condition
        ).columns[0].values() | list %}
    {%- endif %}
    {%- set warehouse_ids = run_query(
        'select file_id from ' ~ ref('stg_shop__files') ~ " where source_uri like 'warehouse:%'"
    ).columns[0].values() | list %}
{%- endif %}
{%- set file_filter = 'true' if check_ids is none else 'file_id in (' ~ (check_ids | join(', ') or 'null') ~ ')' %}

with

classified_lines as (

    select * from {{ ref('int_transactions_classified') }}

),

files as (

    select * from {{ ref('stg_shop__files') }}

),

lines_per_file as (

    select
        file_id,
        count(*) as classified_lines,
        count(transaction_line_id) as keyed_lines

    from classified_lines
    where {{ file_filter }}
    group by file_id

),

file_mismatches as (

    select
        lines_per_file.file_id,
        cast(null as {{ dbt.type_string() }}) as transaction_line_id,
        lines_per_file.classified_lines,
        lines_per_file.keyed_lines,
        files.rows_loaded

    from lines_per_file
    left join files on lines_per_file.file_id = files.file_id
    where
        files.file_id is null
        or not files.is_loaded
        or lines_per_file.keyed_lines != lines_per_file.classified_lines
        or (
            files.source_uri not like 'warehouse:%'
            and lines_per_file.classified_lines != files.rows_loaded
        )

),

warehouse_duplicates as (

    select
        file_id,
        transaction_line_id,
        count(*) as classified_lines,
        count(*) as keyed_lines,
        cast(null as {{ dbt.type_int() }}) as rows_loaded

    from classified_lines
    where
        file_id in ({{ warehouse_ids | join(', ') or 'null' }})
        and {{ file_filter }}
    group by file_id, transaction_line_id
    having count(*) > 1

),

source_key as (

    select
        cast(null as {{ dbt.type_bigint() }}) as file_id,
        cast('raw.transactions has no primary key (file_id, line_number)' as {{ dbt.type_string() }})
            as transaction_line_id,
        cast(null as {{ dbt.type_bigint() }}) as classified_lines,
        cast(null as {{ dbt.type_bigint() }}) as keyed_lines,
        cast(null as {{ dbt.type_int() }}) as rows_loaded

    from (select 1 as one_row) as one_row
    where not {{ source_key_is_enforced(source('shop', 'transactions'), ['file_id', 'line_number']) }}

),

final as (

    select * from file_mismatches
    union all
    select * from warehouse_duplicates
    union all
    select * from source_key

)

select * from final
