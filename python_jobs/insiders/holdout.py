"""Which purchase-probability model to trust this cycle: BG/NBD, Pareto/NBD or a logistic model.

The holdout is the last ``HOLDOUT_DAYS`` before the features' ``as_of_date``: each model sees the
customers' purchase days before ``cutoff = as_of_date - HOLDOUT_DAYS`` and predicts the probability that
each of them buys at least once in ``[cutoff, as_of_date)``; what really happened scores it.

- ``bg_nbd``, ``pareto_nbd``: fitted on the history before the cutoff (closed-form / quadrature
  probabilities of :mod:`insiders.forecast`);
- ``logistic``: a scikit-learn logistic regression on log recency, frequency and age, trained on the
  window before (history before ``cutoff - HOLDOUT_DAYS``, outcome in the ``HOLDOUT_DAYS`` after it) —
  an empirical model, calibrated by construction on the period it learned from.

The chosen model has the lowest Brier score (mean squared error of the probabilities: it rewards both
calibration and ranking); the log-loss is reported beside it. Everything is pure pandas/numpy/sklearn.
The lifetime inputs follow ``customer_features``: purchase days strictly before the cutoff,
``frequency`` = days after the first, ``recency`` = last - first, ``T`` = cutoff - first (days).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from insiders.calibration import brier_score, brier_skill, calibration_by_decile, log_loss
from insiders.forecast import (
    fit_bg_nbd,
    fit_pareto_nbd,
    pareto_probability_of_purchase,
    probability_of_purchase,
)

HOLDOUT_DAYS = 90
MODELS = ("bg_nbd", "pareto_nbd", "logistic")
PARAMETRIC = ("bg_nbd", "pareto_nbd")
MIN_CUSTOMERS = 50  # fewer customers before a cutoff: that model is not scored / trained


def lifetime_summary(days: pd.DataFrame, cutoff: date) -> pd.DataFrame:
    """(frequency, recency, T) per customer from purchase days (``customer_id``, ``purchase_date``)
    strictly before ``cutoff``; indexed by customer_id, sorted."""
    before = days.loc[days["purchase_date"] < pd.Timestamp(cutoff), ["customer_id", "purchase_date"]]
    grouped = before.drop_duplicates().groupby("customer_id")["purchase_date"]
    first, last, count = grouped.min(), grouped.max(), grouped.size()
    return pd.DataFrame(
        {
            "frequency": (count - 1).astype(float),
            "recency": (last - first).dt.days.astype(float),
            "T": (pd.Timestamp(cutoff) - first).dt.days.astype(float),
        }
    ).sort_index()


def bought_in(days: pd.DataFrame, customers: pd.Index, start: date, end: date) -> np.ndarray:
    """1.0 for each customer of ``customers`` with a purchase day in ``[start, end)``, else 0.0."""
    window = days["purchase_date"].between(pd.Timestamp(start), pd.Timestamp(end), inclusive="left")
    buyers = set(days.loc[window, "customer_id"])
    return np.array([c in buyers for c in customers], dtype=float)


def _logistic_inputs(summary: pd.DataFrame) -> np.ndarray:
    return np.column_stack(
        [
            np.log1p(summary["T"] - summary["recency"]),
            np.log1p(summary["frequency"]),
            np.log1p(summary["T"]),
        ]
    )


Predictor = Callable[[pd.DataFrame], np.ndarray]


def train_logistic(days: pd.DataFrame, cutoff: date, horizon_days: int) -> Predictor | None:
    """Logistic P(buy in the next ``horizon_days``) learned from the history before ``cutoff -
    horizon_days`` and the purchases of the ``horizon_days`` after it; None when that window is empty."""
    start = cutoff - timedelta(days=horizon_days)
    summary = lifetime_summary(days, start)
    if len(summary) < MIN_CUSTOMERS:
        return None
    outcome = bought_in(days, summary.index, start, cutoff)
    if outcome.min() == outcome.max():
        return None
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    model.fit(_logistic_inputs(summary), outcome)
    return lambda s: model.predict_proba(_logistic_inputs(s))[:, 1]


def parametric_predictor(model: str, summary: pd.DataFrame, horizon_days: int) -> tuple[object, Predictor]:
    """Fit ``bg_nbd`` or ``pareto_nbd`` on ``summary``; return the parameters and a probability function."""
    x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
    if model == "bg_nbd":
        params = fit_bg_nbd(x, t_x, age)
        prob = probability_of_purchase
    elif model == "pareto_nbd":
        params = fit_pareto_nbd(x, t_x, age)
        prob = pareto_probability_of_purchase
    else:
        raise ValueError(f"unknown parametric model {model!r}")
    return params, lambda s: prob(params, horizon_days, s["frequency"], s["recency"], s["T"])


@dataclass(frozen=True)
class HoldoutResult:
    cutoff: date
    horizon_days: int
    scores: pd.DataFrame  # one row per model scored: customers, buyers, brier, log_loss, base rate, skill
    calibration: pd.DataFrame  # one row per model and decile
    chosen: str  # the model with the lowest Brier score
    best_parametric: str  # the better of BG/NBD and Pareto/NBD


def evaluate_on_holdout(
    days: pd.DataFrame, as_of: date, horizon_days: int = HOLDOUT_DAYS
) -> HoldoutResult | None:
    """Score every model at ``as_of - horizon_days``; None when too few customers bought before it."""
    cutoff = as_of - timedelta(days=horizon_days)
    summary = lifetime_summary(days, cutoff)
    if len(summary) < MIN_CUSTOMERS:
        return None
    actual = bought_in(days, summary.index, cutoff, as_of)
    predictions: dict[str, np.ndarray] = {}
    for model in PARAMETRIC:
        predictions[model] = parametric_predictor(model, summary, horizon_days)[1](summary)
    logistic = train_logistic(days, cutoff, horizon_days)
    if logistic is not None:
        predictions["logistic"] = logistic(summary)
    scores, tables = [], []
    for model, predicted in predictions.items():
        scores.append(
            {
                "model_name": model,
                "customers": len(actual),
                "buyers": int(actual.sum()),
                "mean_predicted": float(predicted.mean()),
                "brier_score": brier_score(predicted, actual),
                "log_loss": log_loss(predicted, actual),
                "base_rate": float(actual.mean()),
                "brier_base_rate": brier_score(np.full(actual.size, actual.mean()), actual),
                "brier_skill": brier_skill(predicted, actual),
            }
        )
        table = calibration_by_decile(predicted, actual)
        table.insert(0, "model_name", model)
        tables.append(table)
    frame = pd.DataFrame(scores)
    frame["max_decile_gap"] = [t["gap"].abs().max() for t in tables]
    chosen = str(frame.loc[frame["brier_score"].idxmin(), "model_name"])
    parametric = frame[frame["model_name"].isin(PARAMETRIC)]
    best_parametric = str(parametric.loc[parametric["brier_score"].idxmin(), "model_name"])
    frame["is_chosen"] = frame["model_name"] == chosen
    return HoldoutResult(
        cutoff, horizon_days, frame, pd.concat(tables, ignore_index=True), chosen, best_parametric
    )
