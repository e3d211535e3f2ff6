{#-
    The text of capture group `group_number` (a constant 1, 2...) of the first match of `pattern` in
    `text_expression`, or null when the pattern does not match. The pattern may be a column (a
    file's date pattern in raw.files). Postgres: regexp_match; Spark: regexp_extract.
-#}
{% macro regex_group(text_expression, pattern, group_number) -%}
    {{ return(adapter.dispatch('regex_group')(text_expression, pattern, group_number)) }}
{%- endmacro %}

{% macro default__regex_group(text_expression, pattern, group_number) -%}
    (regexp_match({{ text_expression }}, {{ pattern }}))[{{ group_number }}]
{%- endmacro %}

{% macro spark__regex_group(text_expression, pattern, group_number) -%}
    nullif(regexp_extract({{ text_expression }}, {{ pattern }}, {{ group_number }}), '')
{%- endmacro %}

{#-
    The capture group whose number is held by `group_expression` (an integer column, e.g. a file's
    date_year_group), up to `max_groups`; null when that column is null or the pattern does not
    match. Every branch extracts a constant group, so engines that want a literal group number work.
-#}
{% macro regex_group_at(text_expression, pattern, group_expression, max_groups=7) -%}
    case {{ group_expression }}
        {%- for n in range(1, max_groups + 1) %}
        when {{ n }} then {{ regex_group(text_expression, pattern, n) }}
        {%- endfor %}
    end
{%- endmacro %}
