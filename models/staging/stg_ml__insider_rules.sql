with

source as (

    select * from {{ source('ml', 'insider_rules') }}

),

renamed as (

    select
        run_id,
        rule_id,
        rule_text,
        predicts_insider,
        support as customers_matched,
        precision as rule_precision,
        recall as rule_recall

    from source

)

select * from renamed
