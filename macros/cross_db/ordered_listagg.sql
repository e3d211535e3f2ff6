{#-
    The texts of a group joined with `delimiter_text` (a SQL literal) in the order of `order_by` (an
    expression). Postgres: dbt.listagg with its order by (today's SQL). dbt-spark's listagg ignores
    the order (collect_list, with a warning), so the parts would come in whatever order the shuffle
    gives; on Spark the (order, text) pairs are collected, sorted and joined. Null texts are skipped
    on both.
-#}
{% macro ordered_listagg(measure, delimiter_text, order_by) -%}
    {{ return(adapter.dispatch('ordered_listagg', 'insiders')(measure, delimiter_text, order_by)) }}
{%- endmacro %}

{% macro default__ordered_listagg(measure, delimiter_text, order_by) -%}
    {{ dbt.listagg(measure, delimiter_text, 'order by ' ~ order_by) }}
{%- endmacro %}

{% macro spark__ordered_listagg(measure, delimiter_text, order_by) -%}
    array_join(
        transform(
            array_sort(collect_list(named_struct('sort_key', {{ order_by }}, 'part', {{ measure }}))),
            pair -> pair.part
        ),
        {{ delimiter_text }}
    )
{%- endmacro %}
