{#-
    The decimal number a trimmed text holds (plain notation such as 2.55, -1, .5), or null when it
    holds none. Never raises, so one bad line cannot fail a build.
-#}
{% macro safe_cast_numeric(text_expression) -%}
    case
        when length({{ text_expression }}) <= 30 and {{ regex_matches(text_expression, '^[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)$') }}
            then cast({{ text_expression }} as {{ type_exact_decimal() }})
    end
{%- endmacro %}
