-- Every purchase line of a known customer before the mart's reference date ends up in exactly one
-- customer's gross revenue and items, and every such return line of a customer who also bought in
-- returned_items: a join that fans out or drops rows in customer_features shows here. Returns one
-- row when the totals differ.

with

purchase_lines as (

    select * from {{ ref('int_purchase_lines') }}

),

return_lines as (

    select * from {{ ref('int_return_lines') }}

),

customer_features as (

    select * from {{ ref('customer_features') }}

),

as_of_date as (

    select max(as_of_date) as as_of_date
    from customer_features

),

purchase_totals as (

    select
        sum(purchase_lines.revenue) as gross_revenue,
        sum(purchase_lines.quantity) as items

    from purchase_lines
    inner join as_of_date on purchase_lines.invoiced_at < as_of_date.as_of_date
    where not purchase_lines.is_guest

),

return_totals as (

    select coalesce(sum(return_lines.returned_quantity), 0) as returned_items

    from return_lines
    inner join as_of_date on return_lines.invoiced_at < as_of_date.as_of_date
    inner join customer_features on return_lines.customer_id = customer_features.customer_id

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
        purchase_totals.gross_revenue as line_gross_revenue,
        feature_totals.gross_revenue as feature_gross_revenue,
        purchase_totals.items as line_items,
        feature_totals.items as feature_items,
        return_totals.returned_items as line_returned_items,
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
