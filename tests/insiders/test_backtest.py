"""The backtest's group comparison and forecast check on hand-made customers."""

from __future__ import annotations

import pandas as pd
import pytest

from insiders.backtest import ALL_CUSTOMERS, compare_groups, validate_forecast


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


def test_groups_have_the_size_of_the_insiders_and_shares_of_all_future_revenue(customers):
    groups = compare_groups(customers).set_index("group_name")
    assert list(groups.index) == ["insiders", "top_past_revenue", "top_rfm", "oracle"]
    assert (groups["customers"] == 2).all()
    # total future revenue = 1,000
    assert groups.loc["insiders", "share_of_future_revenue"] == pytest.approx(0.5)  # c1 + c2
    assert groups.loc["top_past_revenue", "share_of_future_revenue"] == pytest.approx(0.3)  # c3 + c1
    assert groups.loc["top_rfm", "share_of_future_revenue"] == pytest.approx(0.5)  # c1 + c2
    assert groups.loc["oracle", "share_of_future_revenue"] == pytest.approx(0.7)  # c4 + c1
    assert groups.loc["top_past_revenue", "future_buyers"] == 1


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
