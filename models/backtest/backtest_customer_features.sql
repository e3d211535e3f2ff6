-- The customer features as of the backtest cutoff (backtest.customer_features), built with the marts
-- so a cycle needs no extra dbt run; the segmentation job segments them for the backtest.
{{ config(materialized='table', schema='backtest', alias='customer_features') }}

{{ customer_features_at(backtest_cutoff()) }}
