{#-
    All capture groups of the first match of `pattern` in `text_expression`, as an array (null when
    it does not match): one regex evaluation for every part of a date. Read with array_element (macros/cross_db/arrays.sql).
-#}
{% macro regex_groups(text_expression, pattern) -%}
    {{ return(adapter.dispatch('regex_groups')(text_expression, pattern)) }}
{%- endmacro %}

{% macro default__regex_groups(text_expression, pattern) -%}
    regexp_match({{ text_expression }}, {{ pattern }})
{%- endmacro %}

{#-
    Spark has no "all groups of the first match": regexp_extract gives one group, raises for a group
    past the pattern's count, and '' for a group that did not take part. The pattern (a column, so no
    literal escaping is involved) is padded with seven empty groups, so groups 1-7 always exist; the
    layouts' patterns (insiders.layouts.date_pattern) have at most seven groups, none of them optional
    or empty when it matched, so '' means "no such group" and becomes null, as on Postgres.
-#}
{% macro spark__regex_groups(text_expression, pattern) -%}
    {%- set padded = "concat('(?:', " ~ pattern ~ ", ')()()()()()()()')" -%}
    case
        when {{ text_expression }} rlike {{ pattern }}
            then array(
                {%- for group in range(1, 8) %}
                nullif(regexp_extract({{ text_expression }}, {{ padded }}, {{ group }}), ''){{ ',' if not loop.last }}
                {%- endfor %}
            )
    end
{%- endmacro %}
