with

backtests as (

    select * from {{ ref('int_backtests_ranked') }}

),

groups as (

    select * from {{ ref('stg_ml__backtest_groups') }}

),

final as (

    select
        backtests.backtest_id,
        backtests.is_latest,
        backtests.cutoff_date,
        backtests.horizon_days,
        backtests.created_at,
        backtests.customers_at_cutoff,
        backtests.group_size,
        backtests.insiders_beat_baselines,
        groups.group_name,
        case groups.group_name
            when 'insiders' then 'Insiders (segment at the cutoff)'
            when 'top_past_revenue' then 'Same number, by past gross revenue'
            when 'top_rfm' then 'Same number, by RFM score'
            when 'oracle' then 'Oracle: the same number who really spent most'
        end as group_label,
        groups.customers,
        groups.future_revenue,
        groups.share_of_future_revenue,
        groups.future_buyers

    from backtests
    inner join groups on backtests.backtest_id = groups.backtest_id

)

select * from final
