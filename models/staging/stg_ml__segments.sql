with

source as (

    select * from {{ source('ml', 'segments') }}

),

renamed as (

    select
        run_id,
        segment_id,
        archetype,
        is_insider,
        model_label,
        size as customers,
        centre,
        centre_original,
        profile,
        matched_by,
        match_cost

    from source

)

select * from renamed
