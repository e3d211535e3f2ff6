"""The feature profile and the 2-D projection, on hand-made customers (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insiders.report.stats import axis_description, feature_profile, projection
from insiders.segment.features import FEATURES


def make_customers(n_per_segment: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    parts = []
    for name, revenue, recency, is_insider in (("Big", 5000, 10, True), ("Small", 100, 200, False)):
        purchases = rng.integers(1, 10, n_per_segment)
        gross = revenue * rng.lognormal(0, 0.3, n_per_segment)
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": [f"{name}-{i:04d}" for i in range(n_per_segment)],
                    "segment_name": name,
                    "is_insider": is_insider,
                    "gross_revenue": gross,
                    "recency_days": recency * rng.lognormal(0, 0.3, n_per_segment),
                    "purchases": purchases.astype(float),
                    "products": rng.integers(1, 50, n_per_segment).astype(float),
                    "avg_order_value": gross / purchases,
                    "avg_days_between_purchases": np.where(purchases > 1, 30.0, np.nan),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_profile_means_are_standardised_and_ordered():
    customers = make_customers()
    profile = feature_profile(customers, order=["Small", "Big"])

    assert list(profile.standardized_means.index) == ["Small", "Big"]
    assert list(profile.standardized_means.columns) == list(FEATURES)
    means = profile.standardized_means
    assert means.loc["Big", "gross_revenue"] > 0.9 > -0.9 > means.loc["Small", "gross_revenue"]
    # equal-size segments: the two means of a standardised feature cancel out
    assert np.allclose(means.sum(), 0, atol=1e-9)
    assert profile.medians.loc["Big", "gross_revenue"] == pytest.approx(
        customers.loc[customers.segment_name == "Big", "gross_revenue"].median()
    )


def test_projection_is_a_seeded_sample_with_revenue_to_the_right():
    customers = make_customers()
    first = projection(customers, sample_size=200, seed=1)
    again = projection(customers, sample_size=200, seed=1)
    other = projection(customers, sample_size=200, seed=2)

    assert len(first.points) == 200
    pd.testing.assert_frame_equal(first.points, again.points)
    assert not first.points["customer_id"].equals(other.points["customer_id"])
    assert first.loadings.loc["gross_revenue", "pc1"] > 0
    assert 0 < first.explained[1] <= first.explained[0] < 1
    by_segment = first.points.groupby("segment_name")["pc1"].mean()
    assert by_segment["Big"] > by_segment["Small"]


def test_projection_of_a_tiny_shop():
    customers = make_customers(1)
    assert projection(customers) is None  # two customers: nothing to project
    assert len(projection(make_customers(5), sample_size=2000).points) == 10


def test_axis_description():
    loadings = pd.Series({"gross_revenue": 0.6, "purchases": 0.4, "recency_days": -0.5, "products": 0.1})
    assert axis_description(loadings) == "higher revenue (£), orders; lower days since last purchase"
    assert axis_description(loadings * 0) == "no single trait dominates"
