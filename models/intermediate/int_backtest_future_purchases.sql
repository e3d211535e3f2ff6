-- One row per customer who bought in the backtest's horizon (from the cutoff to horizon_end_date,
-- int_reference_dates): the revenue and purchase days the backtest takes as the truth. The same
-- rules as the features: invoices of identified customers, counted on the day they were opened.
with

reference_dates as (

    select * from {{ ref('int_reference_dates') }}

),

invoices as (

    select * from {{ ref('int_customer_invoices') }}

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

final as (

    select
        customer_id,
        sum(revenue) as future_revenue,
        count(distinct purchase_date) as future_purchase_days

    from future_invoices
    group by customer_id

)

select * from final
