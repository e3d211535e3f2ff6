{#-
    Fails (one row) when the model's row count is outside [min_count, max_count] (max optional),
    e.g. a one-row model, or a mart that must not come out empty.
-#}
{% test row_count_between(model, min_count=1, max_count=none) %}

    select row_count
    from (select count(*) as row_count from {{ model }}) as counted
    where
        row_count < {{ min_count }}
        {%- if max_count is not none %}
            or row_count > {{ max_count }}
        {%- endif %}

{% endtest %}
