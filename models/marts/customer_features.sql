-- One row per customer: see the macro customer_features_at (shared with backtest_customer_features).
{{ customer_features_at(as_of_date()) }}
