with

rules as (

    select * from {{ ref('stg_ml__insider_rules') }}

),

runs as (

    select * from {{ ref('int_segmentation_runs_ranked') }}

),

final as (

    select rules.*
    from rules
    inner join runs on rules.run_id = runs.run_id
    where runs.is_current

)

select * from final
