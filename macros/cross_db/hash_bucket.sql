{#-
    A stable bucket 0 .. buckets-1 from a text: the first 32 bits of its md5 (dbt.hash, lowercase hex on
    both) read as an unsigned integer, modulo `buckets`. The same customer gets the same bucket on both
    engines, so the control group of marts/insiders.sql does not change when the shop moves to Spark.
-#}
{% macro hash_bucket(text_expression, buckets) -%}
    {{ return(adapter.dispatch('hash_bucket', 'insiders')(text_expression, buckets)) }}
{%- endmacro %}

{% macro default__hash_bucket(text_expression, buckets) -%}
    mod(('x' || substr({{ dbt.hash(text_expression) }}, 1, 8))::bit(32)::bigint, {{ buckets }})
{%- endmacro %}

{% macro spark__hash_bucket(text_expression, buckets) -%}
    pmod(cast(conv(substr({{ dbt.hash(text_expression) }}, 1, 8), 16, 10) as bigint), {{ buckets }})
{%- endmacro %}
