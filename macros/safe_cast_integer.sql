{#-
    The integer a trimmed text holds, or null when it holds none: not a whole number (a ".0" tail
    is accepted), or outside the integer range. Never raises, so one bad line cannot fail a build.
    The nested case matters: Postgres may evaluate the conditions of one `when` in any order and
    folds constants at plan time, so a cast must only be reachable once the checks said it is safe.
-#}
{% macro safe_cast_integer(text_expression) -%}
    case
        when length({{ text_expression }}) <= 30 and {{ regex_matches(text_expression, '^[+-]?[0-9]+(\\.0*)?$') }}
            then
                case
                    when cast({{ text_expression }} as {{ type_exact_decimal() }}) between -2147483648 and 2147483647
                        then cast(cast({{ text_expression }} as {{ type_exact_decimal() }}) as integer)
                end
    end
{%- endmacro %}
