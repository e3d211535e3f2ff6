with

runs as (

    select * from {{ ref('stg_ml__segmentation_runs') }}

),

ranked as (

    select * from {{ ref('int_segmentation_runs_ranked') }}

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
        runs.insiders_share,
        runs.insiders_revenue_share,
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

)

select * from final
