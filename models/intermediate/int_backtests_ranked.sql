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
        ) = 1 as is_latest,
        -- a cutoff backtested again (same horizon): its newest backtest is the one that counts
        row_number() over (
            partition by cutoff_date, horizon_days
            order by created_at desc, backtest_id desc
        ) = 1 as is_latest_of_cutoff

    from backtests

)

select * from final
