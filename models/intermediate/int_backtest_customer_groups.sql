-- One row per backtest and customer known at its cutoff: the outcome in the horizon and the selection
-- groups the customer is in. Each group has as many customers as there were Insiders at the cutoff:
-- the Insiders, the top by past gross revenue, the top by RFM score (ties by past revenue) and the
-- oracle (the top by the horizon's net revenue); ties end by customer id.
with

predictions as (

    select * from {{ ref('stg_ml__backtest_customer_predictions') }}

),

group_sizes as (

    select
        backtest_id,
        sum(case when is_insider then 1 else 0 end) as group_size

    from predictions
    group by backtest_id

),

ranked as (

    select
        predictions.*,
        row_number() over (
            partition by predictions.backtest_id
            order by predictions.past_gross_revenue desc, predictions.customer_id asc
        ) as past_revenue_rank,
        row_number() over (
            partition by predictions.backtest_id
            order by
                predictions.rfm_score desc, predictions.past_gross_revenue desc, predictions.customer_id asc
        ) as rfm_rank,
        row_number() over (
            partition by predictions.backtest_id
            order by predictions.actual_revenue desc, predictions.customer_id asc
        ) as oracle_rank

    from predictions

),

final as (

    select
        ranked.backtest_id,
        ranked.customer_id,
        ranked.actual_revenue,
        ranked.actual_purchases,
        group_sizes.group_size,
        ranked.is_insider as is_in_insiders,
        ranked.past_revenue_rank <= group_sizes.group_size as is_in_top_past_revenue,
        ranked.rfm_rank <= group_sizes.group_size as is_in_top_rfm,
        ranked.oracle_rank <= group_sizes.group_size as is_in_oracle

    from ranked
    inner join group_sizes on ranked.backtest_id = group_sizes.backtest_id

)

select * from final
