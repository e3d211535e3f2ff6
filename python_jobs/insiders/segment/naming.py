"""Which segment is the Insiders, what every segment looks like, and readable, unique names.

Insiders: the segment whose customers have the highest MEDIAN gross_revenue (ties: higher mean, then
the lower label). The median rather than the mean because one reseller spending 100x the others can
lift the mean of a mediocre segment above a segment of consistently big spenders; the median asks
"is the typical member of this segment a top customer". Data-driven value scores computed from the
same pre-cutoff data were tried as the rule (mean or median of net revenue, of revenue weighted by
recency, of revenue per day since the first purchase, and of the expected revenue of the next 91 days
from a BG/NBD + Gamma-Gamma fit): on the real file and at the six backtest cutoffs (see features) each
picks the same segment as the median revenue. What changed the Insiders' backtest was who goes into
the segment (the revenue weight in features), not which segment is picked, so the simplest rule to
explain stays.

Names come from where a segment sits relative to the whole population on R, F and M: each customer
gets the percentile rank (0-1) of their recency (more recent = higher), purchases and gross_revenue,
and a segment's profile is the mean of its members' ranks (the population's mean is 0.5 everywhere).
Each non-Insiders segment is given the archetype nearest to its profile, one archetype per segment
(Hungarian assignment on the distances, so names are unique and the assignment is deterministic).
With more segments than archetypes, the extra ones get their nearest archetype's name with " (2)",
" (3)"... The Insiders segment is always named "Insiders" and no other segment is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

INSIDERS = "Insiders"

# (recency rank: 1 = bought most recently, purchases rank, revenue rank), population mean = 0.5.
ARCHETYPES: dict[str, tuple[float, float, float]] = {
    "Loyal big spenders": (0.75, 0.85, 0.85),
    "Loyal customers": (0.70, 0.70, 0.60),
    "Promising": (0.75, 0.45, 0.50),
    "New customers": (0.85, 0.15, 0.25),
    "Need attention": (0.50, 0.50, 0.50),
    "Big baskets, few orders": (0.45, 0.30, 0.75),
    "At risk": (0.25, 0.65, 0.65),
    "Hibernating": (0.35, 0.30, 0.30),
    "Lost": (0.10, 0.15, 0.15),
}
_EXTRA_COPY_PENALTY = 10.0  # a suffixed copy of an archetype is used only when all names are taken


def insiders_label(labels: np.ndarray, revenue: np.ndarray) -> int:
    """The label of the Insiders segment: highest median revenue, then highest mean, then lowest label."""
    best_key, best = None, None
    for label in np.unique(labels):
        values = revenue[labels == label]
        key = (float(np.median(values)), float(np.mean(values)), -int(label))
        if best_key is None or key > best_key:
            best_key, best = key, int(label)
    return best


def rfm_ranks(frame: pd.DataFrame) -> pd.DataFrame:
    """Each customer's percentile ranks (0-1] on recency (recent = high), purchases and revenue."""
    return pd.DataFrame(
        {
            "r_rank": (-frame["recency_days"]).rank(pct=True),
            "f_rank": frame["purchases"].rank(pct=True),
            "m_rank": frame["gross_revenue"].rank(pct=True),
        },
        index=frame.index,
    )


def segment_profiles(frame: pd.DataFrame, labels: np.ndarray, features) -> pd.DataFrame:
    """One row per label: size, shares, mean rank profile and mean/median of each feature."""
    data = pd.concat([frame[list(features)], rfm_ranks(frame)], axis=1)
    data["label"] = labels
    revenue = frame["gross_revenue"].clip(lower=0)
    total_revenue = float(revenue.sum())
    grouped = data.groupby("label", sort=True)
    out = pd.DataFrame({"size": grouped.size()})
    out["share_of_customers"] = out["size"] / len(frame)
    out["revenue_share"] = (
        revenue.groupby(labels).sum().reindex(out.index) / total_revenue if total_revenue else 0.0
    )
    for col in ("r_rank", "f_rank", "m_rank"):
        out[col] = grouped[col].mean()
    for col in features:
        out[f"{col}_mean"] = grouped[col].mean()
        out[f"{col}_median"] = grouped[col].median()
    return out


def archetype_names(profiles: pd.DataFrame, labels_to_name, taken: set[str] = frozenset()) -> dict:
    """Names for ``labels_to_name`` (rows of ``profiles``), avoiding names in ``taken`` and "Insiders"."""
    labels = list(labels_to_name)
    if not labels:
        return {}
    columns, costs = [], []
    for copy in range(1, len(labels) + 1):
        for name in ARCHETYPES:
            label_name = name if copy == 1 else f"{name} ({copy})"
            if label_name in taken:
                continue
            columns.append(label_name)
            costs.append((np.array(ARCHETYPES[name]), _EXTRA_COPY_PENALTY * (copy - 1)))
    points = profiles.loc[labels, ["r_rank", "f_rank", "m_rank"]].to_numpy()
    cost = np.array([[np.linalg.norm(p - proto) + penalty for proto, penalty in costs] for p in points])
    rows, cols = linear_sum_assignment(cost)
    return {labels[r]: columns[c] for r, c in zip(rows, cols, strict=True)}
