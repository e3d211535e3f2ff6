{#-
    A date var as SQL: cast('<value>' as date) when var(name) is set (it must be YYYY-MM-DD), else the
    SQL expression `otherwise`.
-#}
{% macro date_var(name, otherwise) -%}
    {%- set value = var(name) -%}
    {%- if value is none -%}
        {{ otherwise }}
    {%- elif modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value | string) -%}
        cast('{{ value }}' as date)
    {%- else -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a date written YYYY-MM-DD, got: " ~ value) }}
    {%- endif -%}
{%- endmacro %}
