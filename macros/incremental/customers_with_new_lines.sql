{#-
    In an incremental build of a customer history: a query of the customers (not guests) with lines in
    `lines` (int_purchase_lines or int_return_lines) from files loaded after the newest file the history
    has seen (its max(last_file_id)). The history then recomputes those customers from all their
    lines. A history built before it had last_file_id (an older release) gets every customer: one
    rebuild in place, and the column is added.
-#}
{% macro customers_with_new_lines(lines) -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    select customer_id
    from {{ lines }}
    where
        not is_guest
        {%- if 'last_file_id' in columns %}
            and file_id > (select coalesce(max(last_file_id), 0) from {{ this }})
        {%- endif %}
{%- endmacro %}
