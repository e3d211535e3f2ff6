{#-
    Which segmentation run the marts show, decided here only: var('segmentation_run_id') when set
    (the cycle passes the run it just made), else the latest succeeded run of the cycle (backtest
    runs, made on features as of a past cutoff, are never current).
-#}
{%- set run_id_var = var('segmentation_run_id') -%}

with

runs as (

    select * from {{ ref('stg_ml__segmentation_runs') }}

),

cycle_runs as (

    select
        *,
        row_number() over (
            order by finished_at desc, run_id desc
        ) as recency_rank

    from runs
    where is_succeeded and purpose = 'cycle'

),

final as (

    select
        run_id,
        previous_run_id,
        as_of_date,
        started_at,
        finished_at,
        recency_rank,
        {% if run_id_var -%}
            run_id = '{{ run_id_var }}' as is_current
        {%- else -%}
            recency_rank = 1 as is_current
        {%- endif %}

    from cycle_runs

)

select * from final
