"""The two computed views of the report: the feature profile per segment and a 2-D projection.

Both work in the space the segments were fitted in: the segmentation's own preparation (impute,
``log1p``, standardise; see ``insiders.segment.features``), so 0 means "like the average customer" and
one unit is one standard deviation of the log-scaled feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from insiders.segment.features import FEATURES, build_preparation

FEATURE_LABELS = {
    "gross_revenue": "Revenue (£)",
    "recency_days": "Days since last purchase",
    "purchases": "Orders",
    "products": "Distinct products",
    "avg_order_value": "Average order (£)",
    "avg_days_between_purchases": "Days between orders",
}
SAMPLE_SIZE = 2000
AXIS_LOADING = 0.3  # a feature "drives" a component when its loading is at least this (absolute)


def fitted_space(customers: pd.DataFrame) -> np.ndarray:
    """The customers' clustering features, log-scaled and standardised (one row per customer)."""
    return build_preparation().fit_transform(customers[list(FEATURES)])


@dataclass
class Profile:
    standardized_means: pd.DataFrame  # segment × feature: mean of the standardised log feature
    medians: pd.DataFrame  # segment × feature: median in original units (missing values ignored)


def feature_profile(customers: pd.DataFrame, order: list[str] | None = None) -> Profile:
    """Per segment (rows, in ``order`` when given) and feature (columns, ``FEATURES`` order)."""
    if customers.empty:
        empty = pd.DataFrame(columns=list(FEATURES), dtype=float)
        return Profile(empty, empty.copy())
    space = pd.DataFrame(fitted_space(customers), columns=list(FEATURES), index=customers.index)
    space["segment_name"] = customers["segment_name"]
    means = space.groupby("segment_name").mean()
    medians = customers.groupby("segment_name")[list(FEATURES)].median()
    if order:
        order = [s for s in order if s in means.index]
        means, medians = means.loc[order], medians.loc[order]
    return Profile(means, medians)


@dataclass
class Projection:
    points: pd.DataFrame  # a sample of customers: customer_id, segment_name, is_insider, pc1, pc2
    explained: tuple[float, float]  # share of the variance on each axis
    loadings: pd.DataFrame  # feature × (pc1, pc2): where each feature points


def projection(
    customers: pd.DataFrame, *, sample_size: int = SAMPLE_SIZE, seed: int = 0
) -> Projection | None:
    """PCA of all customers in the fitted space; the points are a seeded sample of ``sample_size``.

    Signs are fixed so that revenue grows to the right and upwards. None with fewer than 3 customers.
    """
    if len(customers) < 3:
        return None
    space = fitted_space(customers)
    centred = space - space.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    components = components[:2]
    revenue = list(FEATURES).index("gross_revenue")
    signs = np.where(components[:, revenue] < 0, -1.0, 1.0)
    components = components * signs[:, None]
    variance = singular**2
    total = variance.sum()
    explained = tuple(float(v / total) if total > 0 else 0.0 for v in variance[:2])
    coords = centred @ components.T
    rng = np.random.default_rng(seed)
    size = min(sample_size, len(customers))
    chosen = np.sort(rng.choice(len(customers), size=size, replace=False))
    points = customers.iloc[chosen][["customer_id", "segment_name", "is_insider"]].reset_index(drop=True)
    points["pc1"], points["pc2"] = coords[chosen, 0], coords[chosen, 1]
    loadings = pd.DataFrame(components.T, index=list(FEATURES), columns=["pc1", "pc2"])
    return Projection(points, (explained[0], explained[1]), loadings)


def axis_description(loadings: pd.Series, threshold: float = AXIS_LOADING) -> str:
    """What grows along a component, in words: "higher revenue, orders; lower days since last purchase"."""
    words = []
    for sign, word in ((1, "higher"), (-1, "lower")):
        chosen = loadings[loadings * sign >= threshold].sort_values(key=lambda v: -abs(v))
        if not chosen.empty:
            words.append(f"{word} " + ", ".join(FEATURE_LABELS.get(f, f).lower() for f in chosen.index))
    return "; ".join(words) or "no single trait dominates"
