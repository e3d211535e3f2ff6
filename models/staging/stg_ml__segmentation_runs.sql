with

source as (

    select * from {{ source('ml', 'segmentation_runs') }}

),

renamed as (

    select
        run_id,
        previous_run_id,
        purpose,
        status,
        error,
        started_at,
        finished_at,
        as_of_date,
        code_version,
        algorithm,
        parameters,
        features,
        random_seed,
        features_schema,
        n_customers,
        chosen_k,
        silhouette,
        davies_bouldin,
        calinski_harabasz,
        inertia,
        bic,
        insiders_segment_id,
        insiders_share,
        insiders_revenue_share,
        adjusted_rand_index,
        customers_compared,
        rules_fidelity,
        artifact_uri,
        seconds as run_seconds,
        status = 'succeeded' as is_succeeded

    from source

)

select * from renamed
