-- One row per backtest and selection group: the groups and shares from the per-customer backtest rows
-- (int_backtest_group_shares), the Insiders' difference to the best baseline with its bootstrap
-- interval and the verdict worded from it (int_backtest_bootstrap). Backtests from before the
-- per-customer rows keep their stored groups, without an interval.
with

backtests as (

    select * from {{ ref('int_backtests_ranked') }}

),

group_shares as (

    select * from {{ ref('int_backtest_group_shares') }}

),

legacy_groups as (

    select * from {{ ref('stg_ml__backtest_groups') }}

),

bootstrap as (

    select * from {{ ref('int_backtest_bootstrap') }}

),

groups as (

    select
        backtest_id,
        group_name,
        customers,
        future_revenue,
        share_of_future_revenue,
        future_buyers

    from group_shares

    union all

    select
        legacy_groups.backtest_id,
        legacy_groups.group_name,
        legacy_groups.customers,
        legacy_groups.future_revenue,
        legacy_groups.share_of_future_revenue,
        legacy_groups.future_buyers

    from legacy_groups
    where legacy_groups.backtest_id not in (select group_shares.backtest_id from group_shares)

),

beaten as (

    select
        backtest_id,
        max(case when group_name = 'insiders' then share_of_future_revenue end)
        > max(case when group_name = 'top_past_revenue' then share_of_future_revenue end)
        and max(case when group_name = 'insiders' then share_of_future_revenue end)
        > max(case when group_name = 'top_rfm' then share_of_future_revenue end) as has_larger_share

    from groups
    group by backtest_id

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
        coalesce(backtests.insiders_beat_baselines, beaten.has_larger_share) as insiders_beat_baselines,
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
        groups.future_buyers,
        bootstrap.best_baseline,
        bootstrap.difference_to_best_baseline,
        bootstrap.diff_ci_low,
        bootstrap.diff_ci_high,
        bootstrap.bootstrap_replicates,
        bootstrap.verdict,
        case bootstrap.verdict
            when 'ahead of' then 'The Insiders are ahead of the best baseline (the 95% interval is above 0)'
            when 'behind' then 'The Insiders are behind the best baseline (the 95% interval is below 0)'
            when 'level with'
                then 'The Insiders are level with the best baseline (the difference is inside the noise)'
        end as verdict_sentence

    from backtests
    inner join groups on backtests.backtest_id = groups.backtest_id
    inner join beaten on backtests.backtest_id = beaten.backtest_id
    left join bootstrap on backtests.backtest_id = bootstrap.backtest_id

)

select * from final
