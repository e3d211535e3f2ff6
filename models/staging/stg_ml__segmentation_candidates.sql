with

source as (

    select * from {{ source('ml', 'segmentation_candidates') }}

),

renamed as (

    select
        run_id,
        algorithm,
        k,
        n_segments,
        silhouette,
        davies_bouldin,
        calinski_harabasz,
        inertia,
        bic,
        smallest_share,
        insiders_share,
        insiders_revenue_share,
        selection_tier,
        is_chosen,
        fit_seconds

    from source

)

select * from renamed
