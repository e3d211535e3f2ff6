{#-
    The programme's measured effect: since var insiders_programme_start, the purchase revenue per
    customer of the treated Insiders vs the held-out control group (marts.insiders.is_control), with
    a 95% Welch (normal) interval of the difference and the minimal detectable uplift at 80% power
    for these group sizes and spreads. Customers who bought nothing since the start count with 0.
    Before the start (as_of_date on or before it) one row says so, with no figures.
-#}
{%- set programme_start = var('insiders_programme_start') -%}

with

insiders as (

    select * from {{ ref('insiders') }}

),

purchase_lines as (

    select * from {{ ref('int_purchase_lines') }}

),

programme as (

    select
        cast('{{ programme_start }}' as date) as programme_start_date,
        max(as_of_date) as as_of_date

    from insiders

),

revenue_since_start as (

    select
        purchase_lines.customer_id,
        sum(purchase_lines.revenue) as revenue

    from purchase_lines
    cross join programme
    where
        not purchase_lines.is_guest
        and purchase_lines.invoiced_at >= programme.programme_start_date
        and purchase_lines.invoiced_at < programme.as_of_date
    group by purchase_lines.customer_id

),

customer_outcomes as (

    select
        insiders.customer_id,
        insiders.is_control,
        coalesce(revenue_since_start.revenue, 0) as revenue

    from insiders
    left join revenue_since_start on insiders.customer_id = revenue_since_start.customer_id

),

group_stats as (

    select
        count(case when not is_control then 1 end) as treated_customers,
        count(case when is_control then 1 end) as control_customers,
        avg(case when not is_control then revenue end) as treated_revenue_per_customer,
        avg(case when is_control then revenue end) as control_revenue_per_customer,
        var_samp(case when not is_control then revenue end) as treated_revenue_variance,
        var_samp(case when is_control then revenue end) as control_revenue_variance

    from customer_outcomes

),

standard_error as (

    select
        group_stats.*,
        group_stats.treated_revenue_per_customer
        - group_stats.control_revenue_per_customer as uplift_per_customer,
        sqrt(
            group_stats.treated_revenue_variance / nullif(group_stats.treated_customers, 0)
            + group_stats.control_revenue_variance / nullif(group_stats.control_customers, 0)
        ) as uplift_standard_error

    from group_stats

),

measured as (

    select
        programme.programme_start_date,
        programme.as_of_date,
        programme.as_of_date > programme.programme_start_date as is_started,
        standard_error.*

    from programme
    cross join standard_error

),

final as (

    select
        programme_start_date,
        as_of_date,
        is_started,
        {{ dbt.datediff('programme_start_date', 'as_of_date', 'day') }} as days_observed,  -- noqa: LT05
        case
            when not is_started
                then 'the programme starts on {{ programme_start }}: nothing to measure yet'
            when uplift_standard_error is null
                then 'too few customers in a group to measure the uplift'
            when uplift_per_customer - 1.96 * uplift_standard_error > 0
                then 'treated Insiders spend more than the control group'
            when uplift_per_customer + 1.96 * uplift_standard_error < 0
                then 'treated Insiders spend less than the control group'
            else 'treated Insiders are level with the control group (difference inside the noise)'
        end as verdict,
        treated_customers,
        control_customers,
        -- money to the penny; null before the start
        case when is_started then round(treated_revenue_per_customer, 2) end as treated_revenue_per_customer,
        case when is_started then round(control_revenue_per_customer, 2) end as control_revenue_per_customer,
        case when is_started then round(uplift_per_customer, 2) end as uplift_per_customer,
        case
            when is_started then round(uplift_per_customer - 1.96 * uplift_standard_error, 2)
        end as uplift_ci_low,
        case
            when is_started then round(uplift_per_customer + 1.96 * uplift_standard_error, 2)
        end as uplift_ci_high,
        -- z(0.975) + z(0.80): the smallest true uplift this test finds 4 times out of 5
        case
            when is_started then round((1.96 + 0.8416) * uplift_standard_error, 2)
        end as minimal_detectable_uplift

    from measured

)

select * from final
