"""Candidate models, their scores, and the recorded rule that picks one.

Families: KMeans (hard, convex segments a marketer can reason about; inertia) and GaussianMixture
(full covariances, so elongated or differently spread groups; BIC). Both predict new customers, so
the saved Pipeline can label anyone; Agglomerative clustering cannot predict and is not tried.
Every k of ``k_range`` (default 2..12) is fitted for both families on the same prepared matrix and
scored: silhouette on one seeded sample (the same sample for every candidate; ``SelectionRule``),
Davies-Bouldin and Calinski-Harabasz on everyone, inertia or BIC, the smallest segment's share, and
the Insiders segment's share of customers and of revenue (see naming.insiders_label).

The choice (``SelectionRule``), in tiers, the first tier with a candidate wins:

1. eligible = k in 4..8 (enough segments to act on, few enough for a marketing team to run a
   playbook per segment), every segment >= 2% of customers (no campaign for a handful of people),
   and the Insiders segment holds 5-20% of customers (the business definition: a small group that
   brings a large share of revenue). Among them: the best silhouette; candidates within 0.005 of the
   best count as equal (a sample's silhouette varies with the sample by less than that) and the
   smallest k wins, then KMeans before GaussianMixture (simpler to explain).
2. nothing eligible: drop the Insiders band, keep the k range and the 2% floor.
3. still nothing: the best silhouette of all candidates.

A candidate that left a mixture component empty (fewer than k segments) is never chosen.

Why not plain silhouette: on skewed retail data it peaks at k=2, where the "good" half of the
customers is one segment, useless as an Insiders list. Inside the eligible set silhouette still
decides, so the geometry is respected. GaussianMixture stays a candidate only: in the backtests its
Insiders captured less of the next months' revenue than the top spenders (README, "Why the
segmentation is set as it is").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, pairwise_distances
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline

from insiders.segment.naming import insiders_label

log = logging.getLogger(__name__)

FAMILIES = ("kmeans", "gmm")
DEFAULT_K_RANGE = range(2, 13)


@dataclass(frozen=True)
class SelectionRule:
    k_min: int = 4
    k_max: int = 8
    min_segment_share: float = 0.02
    insiders_share_min: float = 0.05
    insiders_share_max: float = 0.20
    silhouette_tolerance: float = 0.005
    silhouette_sample: int = 3000

    def as_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class Candidate:
    algorithm: str
    k: int
    estimator: object = field(repr=False)
    labels: np.ndarray = field(repr=False)
    n_segments: int = 0  # non-empty segments (a mixture may leave a component empty)
    silhouette: float | None = None
    davies_bouldin: float | None = None
    calinski_harabasz: float | None = None
    inertia: float | None = None
    bic: float | None = None
    smallest_share: float = 0.0
    insiders_share: float = 0.0
    insiders_revenue_share: float = 0.0
    fit_seconds: float = 0.0
    tier: int | None = None  # best selection tier this candidate qualifies for (1 = fully eligible)
    is_chosen: bool = False


def make_estimator(algorithm: str, k: int, seed: int):
    if algorithm == "kmeans":
        # 10 restarts: in the weighted space (see features) 5 restarts sometimes stopped in a worse
        # optimum whose Insiders border moved by 20-80 customers between seeds; 10 gave the same border
        # for 7 seeds of 8 at six backtest cutoffs, for about 0.05 s more per candidate
        return KMeans(n_clusters=k, n_init=10, random_state=seed)
    if algorithm == "gmm":
        # reg_covar well above the default: one-day customers share one imputed cadence value, and a
        # component with zero variance along it would otherwise dominate the likelihood.
        return GaussianMixture(n_components=k, covariance_type="full", reg_covar=1e-3, random_state=seed)
    raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {FAMILIES}")


def centres(estimator) -> np.ndarray:
    return estimator.cluster_centers_ if hasattr(estimator, "cluster_centers_") else estimator.means_


def silhouette_sample(n: int, size: int, seed: int) -> np.ndarray:
    """Row positions of the fixed silhouette sample (all rows when n <= size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


DEFAULT_GMM_FIT_SAMPLE = 50_000


def fit_rows(n: int, size: int | None, seed: int) -> np.ndarray | None:
    """Row positions a GaussianMixture is fitted on: None (everyone) when ``size`` is None or n <= size,
    else a seeded sample of ``size`` rows (sorted). Every customer is then predicted by the fitted model.
    """
    if size is None or n <= size:
        return None
    return np.sort(np.random.default_rng(seed + 1).choice(n, size=size, replace=False))


def fit_candidates(
    x: np.ndarray,
    revenue: np.ndarray,
    *,
    k_range=DEFAULT_K_RANGE,
    families=FAMILIES,
    seed: int = 42,
    rule: SelectionRule = SelectionRule(),
    gmm_fit_sample: int | None = DEFAULT_GMM_FIT_SAMPLE,
) -> list[Candidate]:
    """Fit and score every (family, k) on the prepared matrix ``x``; k larger than n-1 is skipped.

    ``gmm_fit_sample``: above this many customers a GaussianMixture (EM with full covariances, about
    75% of the fit at 433k customers) is fitted on a seeded sample of that size and predicts everyone;
    at or below it (the shared file: 4,334 customers) it is fitted on everyone, as before. KMeans is
    always fitted on everyone (fewer restarts or mini-batches moved its results, README).
    """
    n = len(x)
    sample = silhouette_sample(n, rule.silhouette_sample, seed)
    sample_distances = pairwise_distances(x[sample])
    gmm_rows = fit_rows(n, gmm_fit_sample, seed)
    out = []
    for algorithm in families:
        for k in k_range:
            if not 2 <= k < n:
                continue
            t0 = time.perf_counter()
            on = x if algorithm != "gmm" or gmm_rows is None else x[gmm_rows]
            estimator = make_estimator(algorithm, k, seed).fit(on)
            labels = estimator.predict(x)
            cand = Candidate(algorithm, k, estimator, labels, fit_seconds=time.perf_counter() - t0)
            score_candidate(cand, x, revenue, sample, sample_distances)
            out.append(cand)
    return out


def score_candidate(cand: Candidate, x, revenue, sample, sample_distances) -> None:
    sizes = np.bincount(cand.labels, minlength=cand.k)
    cand.n_segments = int((sizes > 0).sum())
    cand.smallest_share = float(sizes[sizes > 0].min() / len(x))
    if hasattr(cand.estimator, "inertia_"):
        cand.inertia = float(cand.estimator.inertia_)
    else:
        cand.bic = float(cand.estimator.bic(x))
    if cand.n_segments < 2:
        return
    cand.davies_bouldin = float(davies_bouldin_score(x, cand.labels))
    cand.calinski_harabasz = float(calinski_harabasz_score(x, cand.labels))
    sampled = cand.labels[sample]
    if len(np.unique(sampled)) >= 2:
        cand.silhouette = silhouette_from_distances(sample_distances, sampled)
    top = insiders_label(cand.labels, revenue)
    in_top = cand.labels == top
    cand.insiders_share = float(in_top.mean())
    total = float(np.clip(revenue, 0, None).sum())
    cand.insiders_revenue_share = float(np.clip(revenue[in_top], 0, None).sum() / total) if total else 0.0


def silhouette_from_distances(distances: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette from a precomputed distance matrix; the same value as sklearn's
    ``silhouette_score(..., metric="precomputed")`` (tested), about 3x faster: one matrix product gives
    every point's summed distance to every cluster. A point alone in its cluster scores 0.
    """
    _, codes = np.unique(labels, return_inverse=True)
    onehot = np.zeros((len(codes), codes.max() + 1))
    onehot[np.arange(len(codes)), codes] = 1.0
    sums = distances @ onehot  # point x cluster: summed distances
    counts = onehot.sum(axis=0)
    rows = np.arange(len(codes))
    own_count = counts[codes]
    a = sums[rows, codes] / np.maximum(own_count - 1, 1)
    mean_to = sums / counts
    mean_to[rows, codes] = np.inf
    b = mean_to.min(axis=1)
    s = np.where(own_count > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)
    return float(s.mean())


def qualifying_tier(cand: Candidate, rule: SelectionRule) -> int | None:
    if cand.silhouette is None or cand.n_segments != cand.k:  # an empty component: not a k-segment model
        return None
    in_range = rule.k_min <= cand.k <= rule.k_max
    big_enough = cand.smallest_share >= rule.min_segment_share
    insiders_ok = rule.insiders_share_min <= cand.insiders_share <= rule.insiders_share_max
    if in_range and big_enough and insiders_ok:
        return 1
    if in_range and big_enough:
        return 2
    return 3


def choose(candidates: list[Candidate], rule: SelectionRule) -> Candidate:
    """Mark and return the chosen candidate (see the module docstring); sets each ``tier``."""
    for cand in candidates:
        cand.tier = qualifying_tier(cand, rule)
    scored = [c for c in candidates if c.tier is not None]
    if not scored:
        raise ValueError("no candidate found two segments: the customers are all alike")
    best_tier = min(c.tier for c in scored)
    pool = [c for c in scored if c.tier == best_tier]
    top = max(c.silhouette for c in pool)
    near = [c for c in pool if c.silhouette >= top - rule.silhouette_tolerance]
    chosen = min(near, key=lambda c: (c.k, FAMILIES.index(c.algorithm), -c.silhouette))
    chosen.is_chosen = True
    if best_tier > 1:
        log.warning("no candidate met every selection condition; chose by tier %d", best_tier)
    return chosen


def final_pipeline(preparation: Pipeline, estimator) -> Pipeline:
    """The artefact's Pipeline: fitted preparation steps followed by the fitted chosen model."""
    return Pipeline([*preparation.steps, ("cluster", estimator)])


def candidates_frame(candidates: list[Candidate]) -> pd.DataFrame:
    cols = [
        "algorithm",
        "k",
        "n_segments",
        "silhouette",
        "davies_bouldin",
        "calinski_harabasz",
        "inertia",
        "bic",
        "smallest_share",
        "insiders_share",
        "insiders_revenue_share",
        "tier",
        "is_chosen",
        "fit_seconds",
    ]
    return pd.DataFrame([{c: getattr(cand, c) for c in cols} for cand in candidates], columns=cols)
