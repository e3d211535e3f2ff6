{#-
    The control group: a fixed share (var insiders_control_share_pct) of the Insiders, chosen by a hash of the customer id and the
    programme start (var insiders_programme_start), so a customer stays in (or out of) the control
    group for the whole programme whatever the run. Marketing leaves them out of Insiders actions;
    the uplift is the revenue difference between treated and control Insiders.
-#}
with

customers as (

    select * from {{ ref('customer_segments') }}

),

current_insiders as (

    select * from customers
    where is_insider

),

final as (

    select
        *,
        row_number() over (
            order by gross_revenue desc, customer_id asc
        ) as revenue_rank,
        {{ hash_bucket(
            "customer_id || ':' || '" ~ var("insiders_programme_start") ~ "'", 100
        ) }} < {{ var('insiders_control_share_pct') | int }} as is_control

    from current_insiders

)

select * from final
