{#-
    The columns of the customer features marts (customer_features, backtest_customer_features), in
    the order they are read: one list, so the two marts cannot drift apart.
-#}
{% macro customer_feature_columns() -%}
    {{ return([
        'customer_id', 'as_of_date', 'country', 'first_purchase_at', 'last_purchase_at', 'gross_revenue',
        'recency_days', 'purchases', 'items', 'products', 'avg_order_value', 'avg_days_between_purchases',
        'purchase_frequency', 'returned_items', 'avg_basket_size', 'avg_basket_products',
        'revenue_returned', 'returns_rate', 'repeat_purchase_days', 'active_span_days',
        'customer_age_days', 'avg_repeat_day_revenue', 'r_score', 'f_score', 'm_score', 'rfm_score',
        'net_revenue',
    ]) }}
{%- endmacro %}
