with

source as (

    select * from {{ source('ml', 'insider_rule_conditions') }}

),

renamed as (

    select
        run_id,
        rule_id,
        condition_id,
        feature,
        operator,
        threshold

    from source

)

select * from renamed
