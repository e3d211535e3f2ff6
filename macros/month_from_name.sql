{#-
    The month number (1-12) of an English month name or its three-letter abbreviation (any case),
    or null. Only the first three letters are read: the layout's pattern keeps just those.
-#}
{% macro month_from_name(text_expression) -%}
    case lower(substring({{ text_expression }}, 1, 3))
        {%- for name in ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] %}
        when '{{ name }}' then {{ loop.index }}
        {%- endfor %}
    end
{%- endmacro %}
