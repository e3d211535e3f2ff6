{#-
    Seeds on dbt-spark (override of the adapter's spark__load_csv_rows, picked by dispatch).
    dbt-spark 1.11 in session mode pastes each value into the insert as '<value>' without escaping,
    so the apostrophe of seeds/segment_playbook.csv ("programme's") ends the literal and the seed fails,
    and an empty cell arrives as the text 'None'. Here every value is written as a text literal escaped for
    Spark (sql_text_literal), an empty cell as null, and no bindings are used (so a % in a value is safe);
    the insert selects from those values, casting each column to its type.
    dbt-spark also forces spark.sql.ansi.enabled=false, under which a cast that fails gives null
    silently: a value that does not cast to its column's type stops the seed with its column instead.
-#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {% set batch_size = get_batch_size() %}
    {% set column_override = model['config'].get('column_types', {}) %}
    {% set statements = [] %}

    {% for chunk in agate_table.rows | batch(batch_size) %}
        {% set sql %}
            insert into {{ this.render() }}
            select
                {% for col_name in agate_table.column_names -%}
                    {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                    {%- set type = column_override.get(col_name, inferred_type) -%}
                    {{ insiders.spark_seed_cast('seed_values.c' ~ loop.index0, type, col_name) }}
                    {%- if not loop.last %},{% endif %}
                {% endfor -%}
            from values
            {% for row in chunk -%}
                ({%- for value in row -%}
                    {{ 'null' if value is none else insiders.sql_text_literal(value) }}
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor -%}
            as seed_values (
                {%- for col_name in agate_table.column_names -%}
                    c{{ loop.index0 }}{%- if not loop.last %}, {% endif -%}
                {%- endfor -%}
            )
        {% endset %}

        {% do adapter.add_query(sql, abridge_sql_log=True) %}

        {% if loop.index0 == 0 %}
            {% do statements.append(sql) %}
        {% endif %}
    {% endfor %}

    {{ return(statements[0]) }}
{% endmacro %}

{#- One seed column, cast from its text to its type; a text that does not cast stops the seed. -#}
{% macro spark_seed_cast(text_column, type, column_name) -%}
    {%- if type | lower == 'string' -%}
        {{ text_column }}
    {%- else -%}
        case
            when {{ text_column }} is not null and cast({{ text_column }} as {{ type }}) is null
                then cast(raise_error(concat({{ insiders.sql_text_literal('seed ' ~ this.identifier ~ ', column ' ~ column_name ~ ': not a ' ~ type ~ ': ') }}, {{ text_column }})) as {{ type }})
            else cast({{ text_column }} as {{ type }})
        end
    {%- endif -%}
{%- endmacro %}
