-- One row per segment of a run: the displayed name and the shares, the one place they are made from
-- the ML job's raw output. Segments of a run that share an archetype are numbered by segment id
-- ("At risk", "At risk (2)"); the shares are of the run's customers and of their gross revenue
-- (the clustering features the job wrote per customer).
with

segments as (

    select * from {{ ref('stg_ml__segments') }}

),

labels as (

    select * from {{ ref('stg_ml__customer_segments') }}

),

label_revenue as (

    select
        run_id,
        segment_id,
        {{ json_number('clustering_features', 'gross_revenue') }} as gross_revenue

    from labels

),

segment_totals as (

    select
        run_id,
        segment_id,
        count(*) as customers,
        sum(gross_revenue) as gross_revenue

    from label_revenue
    group by run_id, segment_id

),

run_totals as (

    select
        run_id,
        sum(customers) as customers,
        sum(gross_revenue) as gross_revenue

    from segment_totals
    group by run_id

),

numbered as (

    select
        *,
        row_number() over (
            partition by run_id, archetype
            order by segment_id
        ) as archetype_number

    from segments

),

final as (

    select
        numbered.run_id,
        numbered.segment_id,
        case
            when numbered.archetype_number = 1 then numbered.archetype
            else {{ dbt.concat([
                "numbered.archetype",
                "' ('",
                "cast(numbered.archetype_number as " ~ dbt.type_string() ~ ")",
                "')'",
            ]) }}
        end as segment_name,
        numbered.archetype,
        numbered.is_insider,
        numbered.model_label,
        coalesce(segment_totals.customers, 0) as customers,
        coalesce(segment_totals.gross_revenue, 0) as gross_revenue,
        -- exact decimals: the same figures whichever mart shows them
        cast(coalesce(segment_totals.customers, 0) as {{ dbt.type_numeric() }})
        / nullif(run_totals.customers, 0) as share_of_customers,
        {{ decimal_ratio(
            'coalesce(segment_totals.gross_revenue, 0)', 'nullif(run_totals.gross_revenue, 0)'
        ) }} as share_of_revenue

    from numbered
    left join segment_totals
        on
            numbered.run_id = segment_totals.run_id
            and numbered.segment_id = segment_totals.segment_id
    left join run_totals on numbered.run_id = run_totals.run_id

)

select * from final
