with

memberships as (

    select * from {{ ref('int_segment_memberships_compared') }}

),

final as (

    select
        run_id,
        previous_run_id,
        is_current,
        customer_id,
        change_type,
        from_segment_id,
        from_segment,
        to_segment_id,
        to_segment,
        not was_insider and is_insider as is_insider_entry,
        was_insider and not is_insider as is_insider_exit

    from memberships
    where change_type != 'stayed'

)

select * from final
