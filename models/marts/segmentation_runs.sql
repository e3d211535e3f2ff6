with

runs as (

    select * from {{ ref('stg_ml__segmentation_runs') }}

),

ranked as (

    select * from {{ ref('int_segmentation_runs_ranked') }}

),

insiders_segments as (

    select * from {{ ref('int_segments_named') }}
    where is_insider

),

final as (

    select
        runs.run_id,
        runs.purpose,
        runs.status,
        runs.error,
        runs.started_at,
        runs.finished_at,
        runs.run_seconds,
        runs.as_of_date,
        runs.code_version,
        runs.algorithm,
        runs.chosen_k,
        runs.n_customers,
        runs.silhouette,
        runs.davies_bouldin,
        runs.calinski_harabasz,
        runs.inertia,
        runs.bic,
        cast(insiders_segments.share_of_customers as {{ type_double() }}) as insiders_share,
        cast(insiders_segments.share_of_revenue as {{ type_double() }}) as insiders_revenue_share,
        runs.previous_run_id,
        runs.adjusted_rand_index,
        runs.customers_compared,
        runs.rules_fidelity,
        runs.random_seed,
        runs.features,
        runs.parameters,
        runs.artifact_uri,
        coalesce(ranked.is_current, false) as is_current

    from runs
    left join ranked on runs.run_id = ranked.run_id
    left join insiders_segments on runs.run_id = insiders_segments.run_id

)

select * from final
