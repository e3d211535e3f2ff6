{#-
    A SQL string literal holding `value` exactly, for the engine at hand. Postgres (standard strings):
    quotes doubled, backslashes kept. Spark parses backslash escapes in literals (spark.sql.parser.
    escapedStringLiterals=false), so a backslash is doubled and a quote escaped, or a regex such as
    `\.` would reach the engine as `.`.
-#}
{% macro sql_text_literal(value) -%}
    {{ return(adapter.dispatch('sql_text_literal', 'insiders')(value)) }}
{%- endmacro %}

{% macro default__sql_text_literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__sql_text_literal(value) -%}
    '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}
