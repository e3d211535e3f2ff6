-- Backtests, newest first; the marts show the latest one (is_latest) and keep the history.
with

backtests as (

    select * from {{ ref('stg_ml__backtests') }}

),

final as (

    select
        *,
        row_number() over (
            order by created_at desc, backtest_id desc
        ) = 1 as is_latest

    from backtests

)

select * from final
