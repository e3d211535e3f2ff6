{#-
    In an incremental build of a customer history: a query of the customers (not guests) with lines in
    `lines` (int_purchase_lines or int_return_lines) classified after the newest line the history has
    seen (its max(last_classified_at)). The history then recomputes those customers from all their
    lines. A history built before it had last_classified_at (an older release) gets every customer:
    one rebuild in place, and the column is added.
-#}
{% macro customers_with_new_lines(lines) -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    select customer_id
    from {{ lines }}
    where
        not is_guest
        {%- if 'last_classified_at' in columns %}
            and {{ classified_after_newest_of(this) }}
        {%- endif %}
{%- endmacro %}

{#- A condition on classified_at: after the newest last_classified_at of `history`; true while it is empty. -#}
{% macro classified_after_newest_of(history) -%}
    (
        classified_at > (select max(last_classified_at) from {{ history }})
        or not exists (select 1 from {{ history }})
    )
{%- endmacro %}
