{#-
    Fails (one row per offending row) where the boolean SQL `expression` is not true. When attached to
    a column, the expression is appended to the column name (e.g. column `recency_days`,
    expression `>= 0`); on a model it stands alone. `where` config narrows the rows as usual.
-#}
{% test expression_is_true(model, expression, column_name=none) %}

    select *
    from {{ model }}
    {% if column_name is none -%}
        where not coalesce({{ expression }}, false)
    {%- else -%}
        where not coalesce({{ column_name }} {{ expression }}, false)
    {%- endif %}

{% endtest %}
