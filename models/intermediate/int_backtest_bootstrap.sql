{#-
    The Insiders' difference to the best baseline (the equal-size group, by past gross revenue or by RFM
    score, with the larger share) in share of the horizon's net revenue, with a 95% bootstrap interval:
    1,000 Poisson-bootstrap replicates over customers (each customer counts w ~ Poisson(1) times in a
    replicate; w from a hash of customer and replicate, so the interval is the same on every build,
    database and engine). The groups stay as chosen at the cutoff; the interval is the 25th and 976th of the
    1,000 sorted replicate differences. One row per backtest.
    Incremental by backtest: a build recomputes the backtests whose inputs changed (their fingerprint:
    the number of customer rows and a checksum of each row's customer, outcome and groups) and keeps the
    others. A delivery of late lines (an old invoice's line, a return in an old horizon) changes an
    earlier backtest's outcomes and so its fingerprint: it is recomputed, as a full rebuild would
    (tests/insiders/test_incremental.py). Each customer's draw is hashed once per replicate
    (computed_once: Postgres would otherwise hash again in every branch of the weight's CASE).
    Bounded at scale (var bootstrap_max_units, default 10,000): a backtest with more customers drawn
    (revenue != 0) than that resamples that many buckets of customers instead (bucket = a hash of the
    customer, so the same on every build and engine); each bucket's sums are i.i.d., so the interval
    estimates the same spread (scripts/bootstrap_buckets_check.py: within its own noise at 10x), at a
    cost of at most 1,000 x bootstrap_max_units hashes. At or below it, each customer is a unit and
    the interval is the per-customer one to the last digit. A changed setting recomputes every
    backtest (the setting is stored with the row, part of the fingerprint).
-#}
{{ config(**keyed_incremental_config('backtest_id')) }}
{%- set bootstrap_max_units = var('bootstrap_max_units') | int %}

{%- set row_checksum = hash_bucket(
    "customer_id || '|' || " ~ dbt.cast("actual_revenue", dbt.type_string())
    ~ " || case when is_in_insiders then '|i' else '|' end"
    ~ " || case when is_in_top_past_revenue then '|p' else '|' end"
    ~ " || case when is_in_top_rfm then '|r' else '|' end", 1000000000
) %}
{#- In an incremental build: the backtests whose fingerprint differs from the built row's (or that have
    none), queried first and written into the SQL as literals, so the planner sees how little is left
    (none: a constant-false filter, no bootstrap planned; Postgres otherwise JIT-compiles the bootstrap's
    plan for seconds to produce no rows). None: every backtest (a full build). -#}
{%- set changed_ids = none %}
{%- if is_incremental() and execute %}
    {%- set built_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list %}
    {%- if 'input_checksum' in built_columns and 'bootstrap_max_units' in built_columns %}
        {%- set changed_query %}
            select fingerprints.backtest_id
            from (
                select backtest_id, count(*) as input_rows, sum({{ row_checksum }}) as input_checksum
                from {{ ref('int_backtest_customer_groups') }}
                group by backtest_id
            ) as fingerprints
            left join {{ this }} as built
                on
                    fingerprints.backtest_id = built.backtest_id
                    and fingerprints.input_rows = built.input_rows
                    and fingerprints.input_checksum = built.input_checksum
                    and built.bootstrap_max_units = {{ bootstrap_max_units }}
            where built.backtest_id is null
        {%- endset %}
        {%- set changed_ids = run_query(changed_query).columns[0].values() | list %}
    {%- endif %}
{%- endif %}

with

customer_groups as (

    select * from {{ ref('int_backtest_customer_groups') }}

),

group_shares as (

    select * from {{ ref('int_backtest_group_shares') }}

),

input_fingerprints as (

    select
        backtest_id,
        count(*) as input_rows,
        sum({{ row_checksum }}) as input_checksum

    from customer_groups
    group by backtest_id

),

changed_backtests as (

    select *
    from input_fingerprints
    {%- if changed_ids is not none %}
        where
            {%- if changed_ids %}
                backtest_id in (
                    {%- for backtest_id in changed_ids %}
                        {{ sql_text_literal(backtest_id) }}{% if not loop.last %},{% endif %}
                    {%- endfor %}
                )
            {%- else %}
                1 = 0
            {%- endif %}
    {%- endif %}

),

digits as (

    {% for digit in range(10) %}
        select {{ digit }} as digit{% if not loop.last %}
            union all{% endif %}
    {% endfor %}

),

replicates as (

    select hundreds.digit * 100 + tens.digit * 10 + ones.digit as replicate_id
    from digits as hundreds
    cross join digits as tens
    cross join digits as ones

),

best_baseline as (

    select
        backtest_id,
        max(case when group_name = 'insiders' then share_of_future_revenue end) as insiders_share,
        max(
            case when group_name in ('top_past_revenue', 'top_rfm') then share_of_future_revenue end
        ) as best_baseline_share,
        case
            when
                max(case when group_name = 'top_past_revenue' then share_of_future_revenue end)
                >= max(case when group_name = 'top_rfm' then share_of_future_revenue end)
                then 'top_past_revenue'
            else 'top_rfm'
        end as best_baseline

    from group_shares
    where backtest_id in (select changed_backtests.backtest_id from changed_backtests)
    group by backtest_id

),

customers_drawn as (

    select
        customer_groups.backtest_id,
        customer_groups.customer_id,
        customer_groups.actual_revenue,
        customer_groups.is_in_insiders,
        case
            when best_baseline.best_baseline = 'top_past_revenue' then customer_groups.is_in_top_past_revenue
            else customer_groups.is_in_top_rfm
        end as is_in_best_baseline

    from customer_groups
    inner join best_baseline on customer_groups.backtest_id = best_baseline.backtest_id
    -- a customer who brought nothing adds 0 to every sum below, whatever the weight: not drawn at all
    -- (about half the customers in a 91-day horizon; same interval, half the hashing)
    where customer_groups.actual_revenue != 0

),

drawn_counts as (

    select
        backtest_id,
        count(*) as drawn_customers

    from customers_drawn
    group by backtest_id

),

customer_units as (

    -- what is resampled: each customer, up to var bootstrap_max_units customers drawn in a backtest;
    -- above, that many buckets of customers (a seeded hash of the customer: each bucket's sums are
    -- i.i.d., so resampling buckets estimates the same spread at a bounded cost)
    select
        customers_drawn.*,
        case
            when drawn_counts.drawn_customers > {{ bootstrap_max_units }}
                then 'bucket ' || {{ dbt.cast(
                    hash_bucket("'bucket|' || customers_drawn.customer_id", bootstrap_max_units),
                    dbt.type_string()
                ) }}
            else customers_drawn.customer_id
        end as unit_id,
        cast(customers_drawn.actual_revenue as {{ type_exact_decimal() }}) as exact_revenue

    from customers_drawn
    inner join drawn_counts on customers_drawn.backtest_id = drawn_counts.backtest_id

),

units as (

    select
        backtest_id,
        unit_id,
        -- exact decimals from here on: the sums do not depend on the order rows come in (an incremental
        -- build plans them otherwise than a full one), so both give the same interval to the last digit
        sum(exact_revenue) as unit_revenue,
        sum(case when is_in_insiders then exact_revenue else 0 end) as unit_insiders_revenue,
        sum(case when is_in_best_baseline then exact_revenue else 0 end) as unit_baseline_revenue

    from customer_units
    group by backtest_id, unit_id

),

unit_counts as (

    select
        backtest_id,
        count(*) as bootstrap_units

    from units
    group by backtest_id

),

draws as (

    select
        units.backtest_id,
        replicates.replicate_id,
        units.unit_revenue,
        units.unit_insiders_revenue,
        units.unit_baseline_revenue,
        -- a unit's weight in a replicate depends on the unit (the customer) and the replicate only
        -- (not on the backtest id, which a rebuild draws anew): the same data give the same interval
        -- (a uniform draw in millionths)
        {{ hash_bucket(
            "units.unit_id || '|' || "
            ~ dbt.cast("replicates.replicate_id", dbt.type_string()), 1000000
        ) }} as uniform_millionths

    from units
    cross join replicates
    {{ computed_once() }}

),

weighted as (

    -- Poisson(1) by its cumulative probabilities
    select
        backtest_id,
        replicate_id,
        unit_revenue,
        unit_insiders_revenue,
        unit_baseline_revenue,
        case
            when uniform_millionths < 367879 then 0
            when uniform_millionths < 735759 then 1
            when uniform_millionths < 919699 then 2
            when uniform_millionths < 981012 then 3
            when uniform_millionths < 996340 then 4
            when uniform_millionths < 999406 then 5
            when uniform_millionths < 999917 then 6
            else 7
        end as weight

    from draws

),

replicate_shares as (

    select
        backtest_id,
        replicate_id,
        sum(weight * unit_revenue) as total_revenue,
        sum(weight * unit_insiders_revenue) as insiders_revenue,
        sum(weight * unit_baseline_revenue) as baseline_revenue

    from weighted
    group by backtest_id, replicate_id

),

replicate_differences as (

    select
        backtest_id,
        replicate_id,
        cast(
            {{ decimal_ratio('(insiders_revenue - baseline_revenue)', 'total_revenue') }}
            as {{ type_double() }}
        ) as difference

    from replicate_shares
    where total_revenue > 0

),

sorted as (

    select
        backtest_id,
        difference,
        row_number() over (
            partition by backtest_id
            order by difference, replicate_id
        ) as difference_rank,
        count(*) over (partition by backtest_id) as replicates

    from replicate_differences

),

interval_bounds as (

    select
        backtest_id,
        max(replicates) as replicates,
        max(case when difference_rank = 25 then difference end) as diff_ci_low,
        max(case when difference_rank = 976 then difference end) as diff_ci_high

    from sorted
    group by backtest_id

),

final as (

    select
        best_baseline.backtest_id,
        best_baseline.best_baseline,
        best_baseline.insiders_share - best_baseline.best_baseline_share as difference_to_best_baseline,
        interval_bounds.replicates as bootstrap_replicates,
        interval_bounds.diff_ci_low,
        interval_bounds.diff_ci_high,
        case
            when interval_bounds.diff_ci_low is null or interval_bounds.diff_ci_high is null then null
            when interval_bounds.diff_ci_low > 0 then 'ahead of'
            when interval_bounds.diff_ci_high < 0 then 'behind'
            else 'level with'
        end as verdict,
        unit_counts.bootstrap_units,
        {{ bootstrap_max_units }} as bootstrap_max_units,
        changed_backtests.input_rows,
        changed_backtests.input_checksum

    from best_baseline
    inner join changed_backtests on best_baseline.backtest_id = changed_backtests.backtest_id
    left join interval_bounds on best_baseline.backtest_id = interval_bounds.backtest_id
    left join unit_counts on best_baseline.backtest_id = unit_counts.backtest_id

)

select * from final
