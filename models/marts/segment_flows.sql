with

memberships as (

    select * from {{ ref('int_segment_memberships_compared') }}

),

final as (

    select
        run_id,
        previous_run_id,
        coalesce(from_segment, '(not a customer yet)') as from_segment,
        coalesce(to_segment, '(gone)') as to_segment,
        count(*) as customers

    from memberships
    group by run_id, previous_run_id, from_segment, to_segment

)

select * from final
