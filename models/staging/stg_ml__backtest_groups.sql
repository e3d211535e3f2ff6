with

source as (

    select * from {{ source('ml', 'backtest_groups') }}

),

renamed as (

    select
        backtest_id,
        group_name,
        customers,
        future_revenue,
        share_of_future_revenue,
        future_buyers

    from source

)

select * from renamed
