"""Stable segment ids and names across runs.

A new run's segments are matched one-to-one to the previous successful run's segments with the
Hungarian algorithm (scipy's linear_sum_assignment) on the distance between centres, measured in the
CURRENT run's fitted space: the previous centres are stored in original feature units, so the current
preparation (log1p, scaling and weights) can be applied to them; distances are root-mean-square per
feature, in standard deviations of the current population (revenue's multiplied by its weight). A
pair further apart than ``MAX_CENTRE_DISTANCE`` is not a match: the segment is new. Why centres rather
than shared customers: a segment is defined by where it sits in feature space, and the comparison still
works when the customer base changed (a new shop export, a side schema, a backfill).

When the previous run used other features (a code change), centres are not comparable and matching
falls back to customer overlap: cost = 1 - Jaccard index of the two member sets, a match needs a
Jaccard index of at least ``MIN_JACCARD``.

Matched segments keep the previous id and name (except that only the current Insiders segment may be
called "Insiders"); unmatched ones get ids above every id used before, in order of median revenue.
The adjusted Rand index against the previous run's labels, on the customers present in both, is
recorded independently of this matching (it does not depend on label values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

# RMS over features, in units of the fitted space (standard deviations, revenue's times its weight; see
# features): well above how far the same segment moves in a rerun with another seed, well below the
# distance between two segments of one run (the measured figures: README, "Why the segmentation is
# set as it is").
MAX_CENTRE_DISTANCE = 0.5
MIN_JACCARD = 0.3


@dataclass(frozen=True)
class Match:
    label: int  # this run's model label
    segment_id: int
    previous_name: str | None  # None: a new segment
    cost: float | None  # centre distance or 1 - Jaccard of the accepted match
    method: str | None  # "centre" | "overlap" | None


def hungarian(cost: np.ndarray, max_cost: float) -> list[tuple[int, int, float]]:
    """Row/column pairs of a minimum-cost one-to-one assignment, keeping pairs with cost <= max_cost."""
    if cost.size == 0:
        return []
    rows, cols = linear_sum_assignment(cost)
    return [
        (int(r), int(c), float(cost[r, c])) for r, c in zip(rows, cols, strict=True) if cost[r, c] <= max_cost
    ]


def centre_costs(current_fitted: np.ndarray, previous_fitted: np.ndarray) -> np.ndarray:
    """RMS-per-feature Euclidean distances, current centres (rows) x previous centres (columns)."""
    diff = current_fitted[:, None, :] - previous_fitted[None, :, :]
    return np.sqrt((diff**2).mean(axis=2))


def overlap_costs(
    customers: pd.Series,
    labels: np.ndarray,
    current: list[int],
    previous_labels: pd.Series,
    previous: list[int],
) -> np.ndarray:
    """1 - Jaccard index of members, current labels (rows) x previous segment ids (columns)."""
    now = pd.Series(labels, index=customers.to_numpy())
    cost = np.ones((len(current), len(previous)))
    for i, label in enumerate(current):
        members = set(now.index[now.to_numpy() == label])
        for j, seg in enumerate(previous):
            before = set(previous_labels.index[previous_labels.to_numpy() == seg])
            union = len(members | before)
            cost[i, j] = 1 - len(members & before) / union if union else 1.0
    return cost


def assign_ids(
    ordered_labels: list[int],
    pairs: list[tuple[int, int, float]],
    previous: pd.DataFrame | None,
    next_id: int,
    method: str | None,
) -> dict[int, Match]:
    """Segment id per label. ``ordered_labels`` are this run's labels in the order new ids are handed
    out (median revenue, highest first); ``pairs`` index into ``ordered_labels`` and ``previous`` rows.
    """
    matched = {ordered_labels[r]: (previous.iloc[c], cost) for r, c, cost in pairs}
    out = {}
    for label in ordered_labels:
        if label in matched:
            row, cost = matched[label]
            out[label] = Match(label, int(row["segment_id"]), str(row["archetype"]), cost, method)
        else:
            out[label] = Match(label, next_id, None, None, None)
            next_id += 1
    return out


def ari_vs_previous(
    customers: pd.Series, segment_ids: np.ndarray, previous_labels: pd.Series | None
) -> tuple[float | None, int]:
    """Adjusted Rand index vs the previous run on the customers in both, and how many they are."""
    if previous_labels is None or previous_labels.empty:
        return None, 0
    now = pd.Series(segment_ids, index=customers.to_numpy())
    common = now.index.intersection(previous_labels.index)
    if len(common) < 2:
        return None, len(common)
    return float(adjusted_rand_score(previous_labels.loc[common], now.loc[common])), len(common)
