{#-
    The relation of the model `name` in the warehouse, from the graph (no ref(): no dependency, e.g.
    int_stock_codes_classified, built before int_transactions_classified, reads which files the latter
    holds); none while it does not exist or at parse time.
-#}
{% macro model_relation(name) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set node = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', name) | first -%}
    {{ return(adapter.get_relation(node.database, node.schema, node.alias)) }}
{%- endmacro %}
