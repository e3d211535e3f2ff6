-- One row per customer who bought or returned in the backtest's horizon (from the cutoff to
-- horizon_end_date, int_reference_dates): the revenue and purchase days the backtest takes as the
-- truth. The same rules as the features: invoices of identified customers, counted on the day they were
-- opened; returns count on their day. The backtest's outcome is net: purchases minus returns in the
-- horizon (an order cancelled in the horizon brings nothing).
with

reference_dates as (

    select * from {{ ref('int_reference_dates') }}

),

invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

return_days as (

    select * from {{ ref('int_customer_return_days') }}

),

horizon as (

    select
        reference_date as cutoff_date,
        horizon_end_date

    from reference_dates
    where reference_name = 'backtest_cutoff'

),

future_invoices as (

    select
        invoices.customer_id,
        invoices.purchase_date,
        invoices.revenue

    from invoices
    inner join horizon
        on
            invoices.purchase_date >= horizon.cutoff_date
            and invoices.purchase_date < horizon.horizon_end_date

),

future_returns as (

    select
        return_days.customer_id,
        return_days.revenue_returned

    from return_days
    inner join horizon
        on
            return_days.return_date >= horizon.cutoff_date
            and return_days.return_date < horizon.horizon_end_date

),

purchases as (

    select
        customer_id,
        sum(revenue) as future_revenue,
        count(distinct purchase_date) as future_purchase_days

    from future_invoices
    group by customer_id

),

returns as (

    select
        customer_id,
        sum(revenue_returned) as future_revenue_returned

    from future_returns
    group by customer_id

),

final as (

    select
        coalesce(purchases.customer_id, returns.customer_id) as customer_id,
        coalesce(purchases.future_revenue, 0) as future_revenue,
        coalesce(returns.future_revenue_returned, 0) as future_revenue_returned,
        coalesce(purchases.future_revenue, 0)
        - coalesce(returns.future_revenue_returned, 0) as future_net_revenue,
        coalesce(purchases.future_purchase_days, 0) as future_purchase_days

    from purchases
    full outer join returns on purchases.customer_id = returns.customer_id

)

select * from final
