with

memberships as (

    select * from {{ ref('int_segment_memberships_compared') }}

),

final as (

    select
        run_id,
        previous_run_id,
        is_current,
        coalesce(from_segment, '(not a customer yet)') as from_segment,
        coalesce(to_segment, '(gone)') as to_segment,
        change_type,
        count(*) as customers

    from memberships
    group by run_id, previous_run_id, is_current, from_segment, to_segment, change_type

)

select * from final
