"""Which segment is the Insiders, what every segment looks like, and readable, unique names.

Insiders: the segment whose customers have the highest MEDIAN gross_revenue (ties: higher mean, then
the lower label). The median rather than the mean because one reseller spending 100x the others can
lift the mean of a mediocre segment above a segment of consistently big spenders; the median asks
"is the typical member of this segment a top customer". Other value scores (net revenue, revenue
weighted by recency, revenue per day, the forecast's expected revenue) picked the same segment in the
backtests, so the simplest rule to explain stays.

Archetypes come from where a segment sits relative to the whole population on R, F and M: each
customer gets the percentile rank (0-1) of their recency (more recent = higher), purchases and
gross_revenue, and a segment's profile is the mean of its members' ranks (the population's mean is 0.5
everywhere). Each non-Insiders segment is given the archetype nearest to its profile (Hungarian
assignment on the distances, so the assignment is deterministic); an archetype goes to a second
segment only when every archetype is taken. The Insiders segment's archetype is always "Insiders" and
no other segment's is. The job writes the archetype; dbt makes the displayed name from it (numbering
segments that share one) and joins the playbook on it.
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
_EXTRA_COPY_PENALTY = 10.0  # an archetype goes to a second segment only when all are taken


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
    """Archetype per label of ``labels_to_name`` (rows of ``profiles``), never "Insiders"; an archetype
    in ``taken`` (or given to another label) is reused only when every other one is used."""
    labels = list(labels_to_name)
    if not labels:
        return {}
    columns, costs = [], []
    for name in ARCHETYPES:
        already = 1 if name in taken else 0
        for copy in range(already, already + len(labels)):
            columns.append(name)
            costs.append((np.array(ARCHETYPES[name]), _EXTRA_COPY_PENALTY * copy))
    points = profiles.loc[labels, ["r_rank", "f_rank", "m_rank"]].to_numpy()
    cost = np.array([[np.linalg.norm(p - proto) + penalty for proto, penalty in costs] for p in points])
    rows, cols = linear_sum_assignment(cost)
    return {labels[r]: columns[c] for r, c in zip(rows, cols, strict=True)}
