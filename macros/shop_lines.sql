{#-
    The shop's lines in the shape of raw.transactions plus typed_quantity, typed_unit_price and
    typed_invoiced_at: from raw.transactions (typed ones null: everything is text there), or, when
    `relation` (the var shop_relation) is set, from that warehouse relation.
-#}
{% macro shop_lines(relation) -%}
    {%- if relation -%}
        {{ shop_relation_lines(relation) }}
    {%- else -%}
    select
        *,
        cast(null as {{ dbt.type_int() }}) as typed_quantity,
        cast(null as {{ dbt.type_numeric() }}) as typed_unit_price,
        cast(null as {{ dbt.type_timestamp() }}) as typed_invoiced_at

    from {{ source('shop', 'transactions') }}
    {%- endif -%}
{%- endmacro %}

{#-
    The order lines of a warehouse relation (the layout's `source:`) in the shape of raw.transactions:
    file_id (the relation's registration in raw.files), line_number (the layout's line_id column, or
    a row number), the standard columns as text (null for typed ones), and typed_quantity,
    typed_unit_price, typed_invoiced_at taken as they are from typed columns (null for text ones).
    `relation` is the var shop_relation that the cycle sets from the layout: schema, table, file_id,
    columns (standard name → column), typed (standard name → true when not a text column).
-#}
{% macro shop_relation_lines(relation) -%}
    {%- set raw_names = {
        'invoice_id': 'invoice_no', 'stock_code': 'stock_code', 'description': 'description',
        'quantity': 'quantity', 'invoiced_at': 'invoice_date', 'unit_price': 'unit_price',
        'customer_id': 'customer_id', 'country': 'country'
    } -%}
    {%- set typed_as = {
        'quantity': dbt.type_int(), 'unit_price': dbt.type_numeric(), 'invoiced_at': dbt.type_timestamp()
    } -%}
    {%- set columns = relation.columns -%}
    select
        cast({{ relation.file_id }} as {{ dbt.type_bigint() }}) as file_id,
        {% if columns.line_id -%}
        cast({{ adapter.quote(columns.line_id) }} as {{ dbt.type_int() }}) as line_number,
        {%- else -%}
        cast(row_number() over (order by
            {%- for std in raw_names if columns[std] %}
            {{ adapter.quote(columns[std]) }}{{ ',' if not loop.last }}
            {%- endfor %}
        ) as {{ dbt.type_int() }}) as line_number,
        {%- endif %}
        {%- for std, raw_name in raw_names.items() %}
        {%- if columns[std] and not relation.typed[std] %}
        cast({{ adapter.quote(columns[std]) }} as {{ dbt.type_string() }}) as {{ raw_name }},
        {%- else %}
        cast(null as {{ dbt.type_string() }}) as {{ raw_name }},
        {%- endif %}
        {%- endfor %}
        {%- for std, type in typed_as.items() %}
        {%- if relation.typed[std] %}
        cast({{ adapter.quote(columns[std]) }} as {{ type }}) as typed_{{ std }}{{ ',' if not loop.last }}
        {%- else %}
        cast(null as {{ type }}) as typed_{{ std }}{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}

    from {{ source('shop_warehouse', 'order_lines') }}
{%- endmacro %}
