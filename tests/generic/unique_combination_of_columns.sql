{#-
    Fails (one row per duplicated key) where the combination of `combination_of_columns` is not
    unique: the composite-key test of a model whose grain is several columns. Written here because
    the project installs no dbt packages.
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as rows_with_key

    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1

{% endtest %}
