{#-
    The ids of the files of `files` (stg_shop__files) that have no line in `lines` (an incremental
    table with a file_id column), as a list, queried when the model runs; [] at parse time.
-#}
{% macro files_not_in(files, lines) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select files.file_id
        from {{ files }} as files
        where not exists (select 1 from {{ lines }} as line where line.file_id = files.file_id)
        order by files.file_id
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | map('int') | list) }}
{%- endmacro %}
