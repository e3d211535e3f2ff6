"""Lifetime inputs from purchase days, and the holdout choice of the purchase-probability model."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from insiders import holdout


def _days(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "purchase_date"])
    frame["purchase_date"] = pd.to_datetime(frame["purchase_date"])
    frame["revenue"] = 10.0
    return frame


def test_lifetime_summary_follows_customer_features():
    days = _days(
        [
            ("a", "2011-01-01"),
            ("a", "2011-01-01"),
            ("a", "2011-01-11"),
            ("a", "2011-02-01"),
            ("b", "2011-01-31"),
        ]
    )
    summary = holdout.lifetime_summary(days, date(2011, 2, 1))  # 2011-02-01 itself is not before it
    assert summary.loc["a"].to_dict() == {"frequency": 1.0, "recency": 10.0, "T": 31.0}
    assert summary.loc["b"].to_dict() == {"frequency": 0.0, "recency": 0.0, "T": 1.0}
    assert holdout.bought_in(days, summary.index, date(2011, 1, 11), date(2011, 2, 1)).tolist() == [1.0, 1.0]
    assert holdout.bought_in(days, summary.index, date(2011, 2, 1), date(2011, 3, 1)).tolist() == [1.0, 0.0]


def _shop(rng, n=1500, start=date(2010, 1, 1), end=date(2011, 1, 1), churn_per_day=1 / 200):
    """Customers arriving over the year, buying at a Gamma-distributed daily rate until they churn."""
    rows = []
    span = (end - start).days
    for i in range(n):
        first = rng.integers(0, span - 30)
        rate = rng.gamma(0.8, 1 / 25)
        death = first + rng.exponential(1 / churn_per_day)
        t = float(first)
        while t < min(span, death):
            rows.append((f"c{i}", start + timedelta(days=int(t))))
            t += rng.exponential(1 / rate) + 1
    return _days(rows)


def test_holdout_scores_every_model_and_chooses_the_lowest_brier_score():
    rng = np.random.default_rng(5)
    days = _shop(rng)
    result = holdout.evaluate_on_holdout(days, date(2011, 1, 1))
    assert result is not None and result.cutoff == date(2010, 10, 3)
    scores = result.scores.set_index("model_name")
    assert set(scores.index) == set(holdout.MODELS)
    assert result.chosen == scores["brier_score"].idxmin() and scores.loc[result.chosen, "is_chosen"]
    assert scores["is_chosen"].sum() == 1
    assert result.best_parametric in holdout.PARAMETRIC
    # every model knows something: better than the base rate, and the deciles cover all customers
    assert (scores["brier_skill"] > 0).all()
    per_model = result.calibration.groupby("model_name")["customers"].sum()
    assert (per_model.sort_index() == scores["customers"].sort_index()).all()
    assert (scores["max_decile_gap"] < 0.2).all()


def test_no_holdout_without_enough_history():
    days = _days([("a", "2011-01-01"), ("b", "2011-01-02")])
    assert holdout.evaluate_on_holdout(days, date(2011, 3, 1)) is None
    assert holdout.train_logistic(days, date(2011, 3, 1), 90) is None


def test_unknown_parametric_model():
    with pytest.raises(ValueError, match="unknown"):
        holdout.parametric_predictor("gbm", pd.DataFrame({"frequency": [], "recency": [], "T": []}), 90)
