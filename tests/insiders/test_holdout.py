"""Lifetime inputs from purchase days, and the holdout choice of the purchase-probability model."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from insiders import holdout


def _days(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows).iloc[:, :3]
    frame.columns = ["customer_id", "purchase_date", "revenue"][: frame.shape[1]]
    frame["purchase_date"] = pd.to_datetime(frame["purchase_date"])
    if "revenue" not in frame:
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
    assert summary.loc["a"].to_dict() == {
        "frequency": 1.0,
        "recency": 10.0,
        "T": 31.0,
        "monetary_value": 10.0,
    }
    assert summary.loc["b"].to_dict() == {"frequency": 0.0, "recency": 0.0, "T": 1.0, "monetary_value": 0.0}
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
        spend_rate = rng.gamma(4.0, 1 / 300)  # Gamma-Gamma: each customer's own mean spend
        t = float(first)
        while t < min(span, death):
            rows.append((f"c{i}", start + timedelta(days=int(t)), rng.gamma(3.0, 1 / spend_rate)))
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
    # the revenue check: the same customers' revenue in the holdout, and a forecast with an interval
    assert result.actual_revenue == pytest.approx(
        holdout.revenue_in(
            days, holdout.lifetime_summary(days, result.cutoff).index, result.cutoff, date(2011, 1, 1)
        )
    )
    assert result.revenue.low < result.revenue.predicted < result.revenue.high
    assert 0.5 < result.revenue.predicted / result.actual_revenue < 2


def test_no_holdout_without_enough_history():
    days = _days([("a", "2011-01-01"), ("b", "2011-01-02")])
    assert holdout.evaluate_on_holdout(days, date(2011, 3, 1)) is None
    assert holdout.train_logistic(days, date(2011, 3, 1), 90) is None


def test_unknown_parametric_model():
    with pytest.raises(ValueError, match="unknown"):
        holdout.parametric_predictor("gbm", pd.DataFrame({"frequency": [], "recency": [], "T": []}), 90)


def test_simulated_revenue_is_centred_on_the_expected_revenue_and_narrows_with_more_customers():
    from insiders.forecast import GammaGammaParams, expected_average_spend

    gg = GammaGammaParams(p=4.0, q=3.0, v=200.0)
    rng = np.random.default_rng(2)
    n = 4000
    frequency = rng.integers(0, 10, n).astype(float)
    monetary = np.where(frequency > 0, rng.gamma(4.0, 30.0, n), 0.0)
    probability = rng.uniform(0.05, 0.95, n)
    purchases = probability * rng.uniform(1.0, 3.0, n)
    expected = float((purchases * expected_average_spend(gg, frequency, monetary)).sum())
    groups = np.where(frequency > 4, "frequent", "rare")
    sims = holdout.simulate_revenue(probability, purchases, frequency, monetary, gg, groups=groups, draws=300)
    assert sorted(sims.columns) == ["All customers", "frequent", "rare"]
    np.testing.assert_allclose(sims["frequent"] + sims["rare"], sims["All customers"])
    totals = sims["All customers"].to_numpy()
    assert totals.mean() == pytest.approx(expected, rel=0.01)
    interval = holdout.revenue_interval(totals, expected)
    assert interval.low < expected < interval.high
    few = holdout.simulate_revenue(
        probability[:400], purchases[:400], frequency[:400], monetary[:400], gg, draws=300
    )["All customers"].to_numpy()
    relative = (interval.high - interval.low) / expected
    few_relative = np.subtract(*np.percentile(few, [97.5, 2.5])) / few.mean()
    assert few_relative > 2 * relative  # ~ sqrt(10) wider for a tenth of the customers


def test_simulating_only_the_buyers_above_the_limit_gives_the_same_distribution(monkeypatch):
    """Above SIMULATE_EVERY_CUSTOMER_MAX customers, only each draw's buyers get purchases and spend: the
    same distribution of the totals (mean and interval within their Monte Carlo error of the draws of
    every customer), another random stream."""
    from insiders.forecast import GammaGammaParams

    gg = GammaGammaParams(p=4.0, q=3.0, v=200.0)
    rng = np.random.default_rng(3)
    n = 3000
    frequency = rng.integers(0, 10, n).astype(float)
    monetary = np.where(frequency > 0, rng.gamma(4.0, 30.0, n), 0.0)
    probability = rng.uniform(0.05, 0.95, n)
    purchases = probability * rng.uniform(1.0, 3.0, n)
    groups = np.where(frequency > 4, "frequent", "rare")
    args = (probability, purchases, frequency, monetary, gg)
    every = holdout.simulate_revenue(*args, groups=groups, draws=2000)
    monkeypatch.setattr(holdout, "SIMULATE_EVERY_CUSTOMER_MAX", n - 1)
    buyers = holdout.simulate_revenue(*args, groups=groups, draws=2000)
    assert not np.array_equal(every.to_numpy(), buyers.to_numpy())  # the other path ran
    np.testing.assert_allclose(buyers["frequent"] + buyers["rare"], buyers["All customers"])
    for column in every.columns:
        a, b = every[column].to_numpy(), buyers[column].to_numpy()
        # means: 2000 draws each, a standard error of sd/sqrt(2000); the interval's bounds (what is
        # published; the spend's tails are heavy, so the standard deviation itself is a noisy figure)
        # within 1% of the mean (they differ by ~0.3% between two seeds of the same path)
        assert abs(a.mean() - b.mean()) < 4 * a.std() / np.sqrt(len(a)) * np.sqrt(2)
        bounds_a, bounds_b = np.percentile(a, [2.5, 97.5]), np.percentile(b, [2.5, 97.5])
        np.testing.assert_allclose(bounds_b, bounds_a, rtol=0, atol=0.01 * a.mean())


def test_choice_by_brier_score_with_ties_to_pareto_nbd():
    def scores(bg, pnbd, logistic):
        return pd.DataFrame(
            {"model_name": ["bg_nbd", "pareto_nbd", "logistic"], "brier_score": [bg, pnbd, logistic]}
        )

    assert holdout.choose(scores(0.21830, 0.21831, 0.2095)) == ("logistic", "pareto_nbd")
    assert holdout.choose(scores(0.2012, 0.20121, 0.2222)) == ("pareto_nbd", "pareto_nbd")
    assert holdout.choose(scores(0.2000, 0.2050, 0.2222)) == ("bg_nbd", "bg_nbd")
    assert holdout.choose(scores(0.2100, 0.2200, 0.21005)) == ("bg_nbd", "bg_nbd")  # level: not the logistic
