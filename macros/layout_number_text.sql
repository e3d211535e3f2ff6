{#-
    A number written by a file's layout (decimal comma, thousands separator) rewritten in plain
    notation (1.234,5 → 1234.5), ready for safe_cast_numeric / safe_cast_integer. The separators are
    columns of raw.files (decimal_separator, thousands_separator); '' means no thousands separator.
-#}
{% macro layout_number_text(text_expression, decimal_separator, thousands_separator) -%}
    replace(replace(trim({{ text_expression }}), {{ thousands_separator }}, ''), {{ decimal_separator }}, '.')
{%- endmacro %}
