{#-
    Custom schema names are used as they are (staging, intermediate, marts, seeds) instead of dbt's
    default "<target schema>_<custom>", so Metabase and the ML job see stable schema names.
    The marts go to var('marts_schema') so a cycle can build them aside and publish them atomically.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif custom_schema_name | trim == 'marts' -%}
        {{ var('marts_schema') | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
