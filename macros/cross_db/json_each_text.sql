{#-
    The rows (key, value as text) of a flat JSON object, as a lateral table:
        cross join lateral {{ json_each_text('t.features') }} as kv
        left join lateral {{ json_each_text('t.other') }} as kv2 on kv.key = kv2.key
    Spark 4.3 fails to resolve `key` when such a second lateral's rows feed further steps of a model
    (insider_exits): there, explode each JSON column in its own select and join those on the key.
    Postgres reads a jsonb column; Spark a JSON text column (ml tables store JSON as string there).
    Numbers keep their JSON text on Spark and are normalised by jsonb on Postgres (1e-07 vs 0.0000001):
    cast the value before comparing it.
-#}
{% macro json_each_text(json_expression) -%}
    {{ return(adapter.dispatch('json_each_text', 'insiders')(json_expression)) }}
{%- endmacro %}

{% macro default__json_each_text(json_expression) -%}
    jsonb_each_text({{ json_expression }})
{%- endmacro %}

{% macro spark__json_each_text(json_expression) -%}
    explode(from_json({{ json_expression }}, 'map<string, string>'))
{%- endmacro %}
