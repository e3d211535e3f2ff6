with

source as (

    select * from {{ source('ml', 'customer_segments') }}

),

renamed as (

    select
        run_id,
        customer_id,
        segment_id,
        distance_to_centre,
        probability as segment_probability,
        features as clustering_features

    from source

)

select * from renamed
