"""How sure a figure is: scores of probability forecasts, bootstrap and power calculations.

Pure numpy/scipy/pandas functions, no I/O:

* :func:`brier_score`, :func:`log_loss`, :func:`brier_skill` and :func:`calibration_by_decile` judge a
  probability forecast of a yes/no outcome ("bought in the horizon") against what happened;
* :func:`bootstrap_share_difference` gives a bootstrap interval of the difference between the shares of
  a total that two groups capture (the backtest's "Insiders vs best baseline");
* :func:`minimal_detectable_difference` is the smallest true difference of two means a two-sided test
  detects with the given power (the programme's control group size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

_EPS = 1e-12


def _probabilities_and_outcomes(predicted: npt.ArrayLike, actual: npt.ArrayLike) -> tuple[np.ndarray, ...]:
    p = np.asarray(predicted, dtype=np.float64).ravel()
    y = np.asarray(actual, dtype=np.float64).ravel()
    if p.shape != y.shape:
        raise ValueError("predicted and actual must have the same length")
    if p.size == 0:
        raise ValueError("cannot score zero predictions")
    if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("predicted probabilities must lie in [0, 1]")
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise ValueError("actual outcomes must be 0 or 1")
    return p, y


def brier_score(predicted: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Mean squared difference between the predicted probability and the 0/1 outcome (lower is better)."""
    p, y = _probabilities_and_outcomes(predicted, actual)
    return float(np.mean((p - y) ** 2))


def log_loss(predicted: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Mean negative log-likelihood of the outcomes (probabilities clipped to [1e-12, 1 - 1e-12])."""
    p, y = _probabilities_and_outcomes(predicted, actual)
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def brier_skill(predicted: npt.ArrayLike, actual: npt.ArrayLike, base_rate: float | None = None) -> float:
    """``1 - Brier / Brier of a constant forecast``: 0 = no better than the base rate, 1 = perfect.

    ``base_rate`` defaults to the observed share of positives, the best constant forecast in hindsight
    (so the skill is a conservative figure for the model)."""
    p, y = _probabilities_and_outcomes(predicted, actual)
    rate = float(y.mean()) if base_rate is None else float(base_rate)
    reference = float(np.mean((rate - y) ** 2))
    if reference == 0.0:
        return float("nan")
    return 1.0 - brier_score(p, y) / reference


def calibration_by_decile(predicted: npt.ArrayLike, actual: npt.ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Per group of predicted probability (deciles by rank, ties broken by position): customers, mean
    predicted probability, actual share of positives and their gap (predicted - actual).

    Ranks rather than values make equal-sized groups even when many predictions tie."""
    p, y = _probabilities_and_outcomes(predicted, actual)
    bins = min(bins, p.size)
    order = np.argsort(p, kind="stable")
    decile = np.empty(p.size, dtype=np.int64)
    decile[order] = np.arange(p.size) * bins // p.size + 1
    frame = pd.DataFrame({"decile": decile, "predicted": p, "actual": y})
    table = frame.groupby("decile").agg(
        customers=("actual", "size"),
        mean_predicted=("predicted", "mean"),
        actual_share=("actual", "mean"),
        min_predicted=("predicted", "min"),
        max_predicted=("predicted", "max"),
    )
    table["gap"] = table["mean_predicted"] - table["actual_share"]
    return table.reset_index()


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    level: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


def bootstrap_share_difference(
    values: npt.ArrayLike,
    in_a: npt.ArrayLike,
    in_b: npt.ArrayLike,
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Share of ``sum(values)`` captured by group A minus the share captured by group B, with a
    percentile bootstrap interval (customers resampled with replacement, the groups kept as flagged).

    The groups may overlap (e.g. the Insiders and the top past spenders); ``values`` is e.g. each
    customer's revenue in the horizon."""
    v = np.asarray(values, dtype=np.float64).ravel()
    a = np.asarray(in_a, dtype=bool).ravel()
    b = np.asarray(in_b, dtype=bool).ravel()
    if not (v.shape == a.shape == b.shape) or v.size == 0:
        raise ValueError("values, in_a and in_b must have the same non-zero length")
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    total = v.sum()
    if total <= 0:
        raise ValueError("the values must have a positive total")
    estimate = (v[a].sum() - v[b].sum()) / total
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    weight_a, weight_b = v * a, v * b
    for i in range(resamples):
        idx = rng.integers(0, v.size, v.size)
        diffs[i] = (weight_a[idx].sum() - weight_b[idx].sum()) / max(v[idx].sum(), _EPS)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high), level)


def minimal_detectable_difference(
    sd_treated: float,
    sd_control: float,
    n_treated: int,
    n_control: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """Smallest true difference of two means that a two-sided Welch z-test at level ``alpha`` detects
    with probability ``power``: ``(z_{1-α/2} + z_{power}) · sqrt(sd_t²/n_t + sd_c²/n_c)``."""
    if min(n_treated, n_control) < 2:
        return float("inf")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z * np.sqrt(sd_treated**2 / n_treated + sd_control**2 / n_control))
