-- Every purchase invoice of a customer before the mart's reference date ends up in exactly one
-- customer's gross revenue and items, and every return day of a customer who also bought before it
-- in returned_items: a join that fans out or drops rows in customer_features (or in the facts it is
-- computed from) shows here. Returns one row when the totals differ. It reads the compact histories
-- (one row per invoice, per return day), not every line: each history is a grouping of the lines
-- (int_customer_invoices, int_customer_return_days), and that an incremental history holds what a
-- full rebuild of the lines gives is tests/insiders/test_incremental.py's proof.

with

invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

return_days as (

    select * from {{ ref('int_customer_return_days') }}

),

customer_features as (

    select * from {{ ref('customer_features') }}

),

as_of_date as (

    select max(as_of_date) as as_of_date
    from customer_features

),

purchase_totals as (

    -- an invoice counts, whole, from the day it was opened (as in the features)
    select
        sum(invoices.revenue) as gross_revenue,
        sum(invoices.items) as items

    from invoices
    inner join as_of_date on invoices.purchase_date < as_of_date.as_of_date

),

return_totals as (

    select coalesce(sum(return_days.returned_items), 0) as returned_items

    from return_days
    inner join as_of_date on return_days.return_date < as_of_date.as_of_date
    inner join customer_features on return_days.customer_id = customer_features.customer_id

),

feature_totals as (

    select
        sum(gross_revenue) as gross_revenue,
        sum(items) as items,
        sum(returned_items) as returned_items

    from customer_features

),

final as (

    select
        purchase_totals.gross_revenue as history_gross_revenue,
        feature_totals.gross_revenue as feature_gross_revenue,
        purchase_totals.items as history_items,
        feature_totals.items as feature_items,
        return_totals.returned_items as history_returned_items,
        feature_totals.returned_items as feature_returned_items

    from purchase_totals
    cross join return_totals
    cross join feature_totals
    where
        purchase_totals.gross_revenue is distinct from feature_totals.gross_revenue
        or purchase_totals.items is distinct from feature_totals.items
        or return_totals.returned_items is distinct from feature_totals.returned_items

)

select * from final
