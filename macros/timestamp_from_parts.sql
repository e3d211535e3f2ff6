{#-
    A timestamp built from integer expressions for its parts, or null when they do not make a valid
    date and time (month 13, 31 February, 25 o'clock...). make_timestamp only runs once every part is
    known to be in range, so invalid input never raises.
-#}
{% macro timestamp_from_parts(year, month, day, hour, minute, second) -%}
    case
        when
            {{ year }} between 1000 and 9999
            and {{ month }} between 1 and 12
            and {{ day }} between 1 and {{ days_in_month(year, month) }}
            and {{ hour }} between 0 and 23
            and {{ minute }} between 0 and 59
            and {{ second }} between 0 and 59
            then make_timestamp({{ year }}, {{ month }}, {{ day }}, {{ hour }}, {{ minute }}, {{ second }})
    end
{%- endmacro %}
