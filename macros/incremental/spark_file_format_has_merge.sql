{#-
    Whether the Spark tables' file format can MERGE (and delete): Delta, Iceberg and Hudi can; Parquet,
    the local default (env INSIDERS_SPARK_FILE_FORMAT, as in dbt_project.yml), cannot, so the keyed
    incremental models are plain tables there, rebuilt each build (what a full refresh gives).
-#}
{% macro spark_file_format_has_merge() -%}
    {{ return(env_var('INSIDERS_SPARK_FILE_FORMAT', 'parquet') in ('delta', 'iceberg', 'hudi')) }}
{%- endmacro %}
