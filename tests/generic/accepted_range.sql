{#-
    Fails (one row per offending row) where a column is outside [min_value, max_value] (bounds
    inclusive unless inclusive=false; either bound may be omitted). Nulls pass unless
    allow_null=false, which makes a separate not_null test unnecessary.
-#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true, allow_null=true) %}

    select *
    from {{ model }}
    where
        {% if allow_null -%}
            {{ column_name }} is not null and (
        {%- else -%}
            {{ column_name }} is null or (
        {%- endif %}
            false
            {%- if min_value is not none %}
                or {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}
            {%- endif %}
            {%- if max_value is not none %}
                or {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}
            {%- endif %}
        )

{% endtest %}
