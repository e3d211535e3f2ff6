-- Each cycle run's segment of every customer next to the customer's segment in the previous run:
-- the one place that decides what "entered", "left", "moved" and "stayed" mean.
with

runs as (

    select * from {{ ref('int_segmentation_runs_ranked') }}

),

labels as (

    select * from {{ ref('stg_ml__customer_segments') }}

),

segments as (

    select * from {{ ref('int_segments_named') }}

),

named_labels as (

    select
        labels.run_id,
        labels.customer_id,
        labels.segment_id,
        segments.segment_name,
        segments.is_insider,
        labels.clustering_features

    from labels
    inner join segments
        on labels.run_id = segments.run_id and labels.segment_id = segments.segment_id

),

compared_runs as (

    select
        run_id,
        previous_run_id

    -- a first run (no previous run) is compared with nothing: all its customers "entered"
    from runs

),

current_labels as (

    select
        compared_runs.run_id,
        compared_runs.previous_run_id,
        named_labels.customer_id,
        named_labels.segment_id,
        named_labels.segment_name,
        named_labels.is_insider,
        named_labels.clustering_features

    from compared_runs
    inner join named_labels on compared_runs.run_id = named_labels.run_id

),

previous_labels as (

    select
        compared_runs.run_id,
        compared_runs.previous_run_id,
        named_labels.customer_id,
        named_labels.segment_id,
        named_labels.segment_name,
        named_labels.is_insider,
        named_labels.clustering_features

    from compared_runs
    inner join named_labels on compared_runs.previous_run_id = named_labels.run_id

),

compared as (

    select
        coalesce(current_labels.run_id, previous_labels.run_id) as run_id,
        coalesce(current_labels.previous_run_id, previous_labels.previous_run_id) as previous_run_id,
        coalesce(current_labels.customer_id, previous_labels.customer_id) as customer_id,
        previous_labels.segment_id as from_segment_id,
        previous_labels.segment_name as from_segment,
        current_labels.segment_id as to_segment_id,
        current_labels.segment_name as to_segment,
        coalesce(previous_labels.is_insider, false) as was_insider,
        coalesce(current_labels.is_insider, false) as is_insider,
        previous_labels.clustering_features as features_before,
        current_labels.clustering_features as features_now,
        case
            when previous_labels.customer_id is null then 'entered'
            when current_labels.customer_id is null then 'left'
            when previous_labels.segment_id != current_labels.segment_id then 'moved'
            else 'stayed'
        end as change_type

    from current_labels
    full outer join previous_labels
        on
            current_labels.run_id = previous_labels.run_id
            and current_labels.customer_id = previous_labels.customer_id

),

final as (

    select
        compared.*,
        runs.is_current

    from compared
    inner join runs on compared.run_id = runs.run_id

)

select * from final
