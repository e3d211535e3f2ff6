"""The backtest's per-customer rows, summary and forecast check on hand-made customers (the groups,
shares, interval and verdict are dbt's: unit tests in models/intermediate/int_backtest_groups.yml)."""

from __future__ import annotations

import pandas as pd
import pytest

from insiders.backtest import ALL_CUSTOMERS, BacktestResult, customer_rows, format_summary, validate_forecast


@pytest.fixture
def customers() -> pd.DataFrame:
    # c1, c2 are Insiders; c3 spent most in the past but stopped; c4 is a rising customer
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4", "c5"],
            "gross_revenue": [500.0, 400.0, 900.0, 100.0, 50.0],
            "rfm_score": [15, 14, 9, 12, 3],
            "segment_name": ["Insiders", "Insiders", "At risk", "Promising", "Lost"],
            "is_insider": [True, True, False, False, False],
            "future_revenue": [300.0, 200.0, 0.0, 400.0, 100.0],
            "future_purchase_days": [3, 2, 0, 4, 1],
        }
    )


def _predicted(customers: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "expected_revenue_91d": [250.0, 250.0, 50.0, 150.0, 0.0],
            "expected_purchases_91d": [2.0, 2.0, 0.5, 1.5, 0.0],
            "probability_purchase_91d": [0.9, 0.8, 0.3, 0.7, 0.1],
        }
    )


def test_customer_rows_keep_what_the_backtest_saw_and_what_happened(customers):
    rows = customer_rows(customers, _predicted(customers), 91).set_index("customer_id")
    assert len(rows) == 5
    assert rows.loc["c3", "past_gross_revenue"] == 900.0 and rows.loc["c3", "actual_revenue"] == 0.0
    assert rows.loc["c4", "probability_purchase"] == pytest.approx(0.7)
    assert rows.loc["c4", "actual_purchases"] == 4 and bool(rows.loc["c1", "is_insider"])


def test_the_summary_words_the_result_from_dbts_verdict(customers):
    result = BacktestResult(
        backtest_id="b", run_id="r", cutoff=pd.Timestamp("2011-09-09").date(), horizon_days=91,
        customers_at_cutoff=5, group_size=2, future_revenue=1000.0, customers=pd.DataFrame(),
        validation=validate_forecast(customers, _predicted(customers), 91),
    )  # fmt: skip
    groups = pd.DataFrame(
        {
            "group_name": ["insiders", "top_past_revenue", "top_rfm", "oracle"],
            "share_of_future_revenue": [0.524, 0.521, 0.5, 0.7],
            "future_buyers": [2, 1, 2, 2],
            "best_baseline": "top_past_revenue",
            "difference_to_best_baseline": 0.003,
            "diff_ci_low": -0.002,
            "diff_ci_high": 0.007,
            "verdict": "level with",
            "verdict_sentence": "The Insiders are level with the best baseline (the difference is inside the noise)",
        }
    )
    text = format_summary(result, groups)
    assert "level with the best baseline" in text and "-0.2 to +0.7" in text
    assert "beat" not in text
    assert "the groups and the verdict are computed by dbt" in format_summary(result, None)


def test_forecast_validation_totals_and_per_segment(customers):
    predicted = pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "expected_revenue_91d": [250.0, 250.0, 50.0, 150.0, 0.0],
            "expected_purchases_91d": [2.0, 2.0, 0.5, 1.5, 0.0],
        }
    )
    out = validate_forecast(customers, predicted, 91).set_index("segment_name")
    assert out.loc[ALL_CUSTOMERS, "predicted_revenue"] == pytest.approx(700.0)
    assert out.loc[ALL_CUSTOMERS, "actual_revenue"] == pytest.approx(1000.0)
    assert out.loc[ALL_CUSTOMERS, "revenue_error_pct"] == pytest.approx(-0.3)
    assert out.loc["Insiders", "revenue_error"] == pytest.approx(0.0)
    assert out.loc["At risk", "revenue_error_pct"] is None or pd.isna(out.loc["At risk", "revenue_error_pct"])
    assert out.loc["Promising", "actual_purchases"] == 4
