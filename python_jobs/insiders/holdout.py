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
calibration and ranking), ties going to Pareto/NBD (see :func:`choose`); the log-loss is reported
beside it. Everything is pure pandas/numpy/sklearn.
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
    expected_average_spend,
    expected_purchases,
    fit_bg_nbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    fit_rows,
    pareto_expected_purchases,
    pareto_probability_of_purchase,
    probability_of_purchase,
)

HOLDOUT_DAYS = 90
ALL_CUSTOMERS = "All customers"
MODELS = ("bg_nbd", "pareto_nbd", "logistic")
PARAMETRIC = ("bg_nbd", "pareto_nbd")
PREFERENCE = ("pareto_nbd", "bg_nbd", "logistic")
TIE = 1e-4  # Brier scores closer than this are level (the third decimal is noise at a few thousand customers)
MIN_CUSTOMERS = 50  # fewer customers before a cutoff: that model is not scored / trained
# Up to this many customers the revenue simulation draws every customer's purchases and spend (the random
# stream of the shared file's figures); above, only the draw's buyers' (the same distribution: a customer
# who does not buy adds 0), 2-3x fewer gamma draws at 433k customers.
SIMULATE_EVERY_CUSTOMER_MAX = 50_000


def lifetime_summary(days: pd.DataFrame, cutoff: date) -> pd.DataFrame:
    """(frequency, recency, T, monetary_value) per customer from purchase days (``customer_id``,
    ``purchase_date``, ``revenue``) strictly before ``cutoff``; indexed by customer_id, sorted.
    ``monetary_value`` is the mean revenue of the repeat purchase days (0 without any)."""
    before = days.loc[days["purchase_date"] < pd.Timestamp(cutoff)]
    per_day = before.groupby(["customer_id", "purchase_date"], sort=True)["revenue"].sum().reset_index()
    grouped = per_day.groupby("customer_id")["purchase_date"]
    first, last, count = grouped.min(), grouped.max(), grouped.size()
    repeat = per_day[per_day["purchase_date"] > grouped.transform("min")]
    return pd.DataFrame(
        {
            "frequency": (count - 1).astype(float),
            "recency": (last - first).dt.days.astype(float),
            "T": (pd.Timestamp(cutoff) - first).dt.days.astype(float),
            "monetary_value": repeat.groupby("customer_id")["revenue"]
            .mean()
            .reindex(first.index)
            .fillna(0.0),
        }
    ).sort_index()


def revenue_in(days: pd.DataFrame, customers: pd.Index, start: date, end: date) -> float:
    """Revenue of ``customers`` in ``[start, end)``."""
    window = days["purchase_date"].between(pd.Timestamp(start), pd.Timestamp(end), inclusive="left")
    return float(days.loc[window & days["customer_id"].isin(customers), "revenue"].sum())


def bought_in(days: pd.DataFrame, customers: pd.Index, start: date, end: date) -> np.ndarray:
    """1.0 for each customer of ``customers`` with a purchase day in ``[start, end)``, else 0.0."""
    window = days["purchase_date"].between(pd.Timestamp(start), pd.Timestamp(end), inclusive="left")
    buyers = pd.unique(days.loc[window, "customer_id"])
    return pd.Index(customers).isin(buyers).astype(float)


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


def parametric_predictor(
    model: str, summary: pd.DataFrame, horizon_days: int, max_fit_customers: int | None = None
) -> tuple[object, Predictor]:
    """Fit ``bg_nbd`` or ``pareto_nbd`` on ``summary`` (on at most ``max_fit_customers`` rows:
    forecast.fit_rows); return the parameters and a probability function."""
    x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
    weights = None
    if max_fit_customers is not None:
        x, t_x, age, weights = fit_rows(x, t_x, age, max_fit_customers)
    if model == "bg_nbd":
        params = fit_bg_nbd(x, t_x, age, weights=weights)
        prob = probability_of_purchase
    elif model == "pareto_nbd":
        params = fit_pareto_nbd(x, t_x, age, weights=weights)
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
    revenue: RevenueInterval | None = None  # the revenue forecast at the cutoff, with its interval
    actual_revenue: float | None = None  # what the same customers spent in the holdout


def choose(scores: pd.DataFrame) -> tuple[str, str]:
    """(chosen model, better parametric model) by Brier score. Scores within ``TIE`` of the best are
    level: the earlier model of ``PREFERENCE`` wins (Pareto/NBD first: a one-time buyer can be gone in
    it, not in BG/NBD; the logistic model last: it knows nothing of dropout)."""
    ranked = scores.assign(rank=scores["model_name"].map(PREFERENCE.index))
    best = ranked["brier_score"].min()
    level = ranked[ranked["brier_score"] <= best + TIE]
    chosen = str(level.sort_values("rank")["model_name"].iloc[0])
    parametric = ranked[ranked["model_name"].isin(PARAMETRIC)]
    level = parametric[parametric["brier_score"] <= parametric["brier_score"].min() + TIE]
    return chosen, str(level.sort_values("rank")["model_name"].iloc[0])


def evaluate_on_holdout(
    days: pd.DataFrame, as_of: date, horizon_days: int = HOLDOUT_DAYS, max_fit_customers: int | None = None
) -> HoldoutResult | None:
    """Score every model at ``as_of - horizon_days``; None when too few customers bought before it.
    The parametric models are fitted on at most ``max_fit_customers`` rows (all customers: None) and
    score every customer."""
    cutoff = as_of - timedelta(days=horizon_days)
    summary = lifetime_summary(days, cutoff)
    if len(summary) < MIN_CUSTOMERS:
        return None
    actual = bought_in(days, summary.index, cutoff, as_of)
    predictions: dict[str, np.ndarray] = {}
    fitted = {}
    for model in PARAMETRIC:
        fitted[model], predict = parametric_predictor(model, summary, horizon_days, max_fit_customers)
        predictions[model] = predict(summary)
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
    chosen, best_parametric = choose(frame)
    frame["is_chosen"] = frame["model_name"] == chosen
    revenue = holdout_revenue(summary, best_parametric, fitted[best_parametric], predictions, horizon_days)
    return HoldoutResult(
        cutoff,
        horizon_days,
        frame,
        pd.concat(tables, ignore_index=True),
        chosen,
        best_parametric,
        revenue,
        revenue_in(days, summary.index, cutoff, as_of),
    )


# --------------------------------------------------------------------------------------------------
# Revenue over the horizon, with a predictive interval
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevenueInterval:
    predicted: float  # expected total revenue over the horizon
    low: float  # 2.5% and 97.5% quantiles of the simulated totals
    high: float


def simulate_revenue(
    purchase_probability: np.ndarray,
    mean_purchases: np.ndarray,
    frequency: np.ndarray,
    monetary_value: np.ndarray,
    gg,
    *,
    groups: np.ndarray | None = None,
    draws: int = 400,
    seed: int = 0,
) -> pd.DataFrame:
    """Simulated revenue over the horizon: ``draws`` rows, one column per group of ``groups`` (e.g. the
    customers' segments) plus ``ALL_CUSTOMERS``. Each customer buys or not (``purchase_probability``); a
    buyer makes ``1 + Poisson`` purchases so that the mean matches ``mean_purchases``; each purchase
    is worth ``Gamma(p, ν)`` with ``ν`` drawn from the customer's Gamma-Gamma posterior
    ``Gamma(q + p·x, v + x·m_x)``. The spread is the customers' own randomness and the uncertainty of
    their rates given the fitted parameters — not the parameters' own uncertainty (small next to it
    with thousands of customers) nor a change of regime such as seasonality or growth."""
    rng = np.random.default_rng(seed)
    prob = np.clip(np.asarray(purchase_probability, dtype=float), 1e-12, 1.0)
    extra = np.maximum(np.asarray(mean_purchases, dtype=float) / prob - 1.0, 0.0)
    x = np.asarray(frequency, dtype=float)
    m = np.where(x > 0, np.asarray(monetary_value, dtype=float), 0.0)
    shape_nu, rate_nu = gg.q + gg.p * x, gg.v + x * m
    labels = (
        np.full(prob.size, ALL_CUSTOMERS, dtype=object)
        if groups is None
        else np.asarray(groups, dtype=object)
    )
    codes, names = pd.factorize(labels)
    totals = np.empty((draws, len(names)))
    every_customer = prob.size <= SIMULATE_EVERY_CUSTOMER_MAX
    for i in range(draws):
        buys = rng.random(prob.size) < prob
        if every_customer:
            n = np.where(buys, 1 + rng.poisson(extra), 0)
            nu = rng.gamma(shape_nu, 1.0 / rate_nu)
            spend = rng.gamma(np.maximum(gg.p * n, 1e-12), 1.0 / nu) * (n > 0)
            totals[i] = np.bincount(codes, weights=spend, minlength=len(names))
        else:
            who = np.flatnonzero(buys)
            n = 1 + rng.poisson(extra[who])
            nu = rng.gamma(shape_nu[who], 1.0 / rate_nu[who])
            spend = rng.gamma(gg.p * n, 1.0 / nu)
            totals[i] = np.bincount(codes[who], weights=spend, minlength=len(names))
    frame = pd.DataFrame(totals, columns=list(names))
    if groups is not None:
        frame[ALL_CUSTOMERS] = totals.sum(axis=1)
    return frame


def revenue_interval(totals: np.ndarray, predicted: float, level: float = 0.95) -> RevenueInterval:
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(totals, [tail, 100 - tail])
    return RevenueInterval(float(predicted), float(low), float(high))


def expected_purchases_of(model: str, params, horizon_days: float, summary: pd.DataFrame) -> np.ndarray:
    x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
    if model == "pareto_nbd":
        return pareto_expected_purchases(params, horizon_days, x, t_x, age)
    return expected_purchases(params, horizon_days, x, t_x, age)


def holdout_revenue(
    summary: pd.DataFrame, model: str, params, predictions: dict, horizon_days: int
) -> RevenueInterval | None:
    """The revenue forecast the cycle would have published at the cutoff (``model`` × Gamma-Gamma),
    with its simulated interval; None when too few repeat customers to fit the spend."""
    repeat = summary["frequency"] > 0
    if repeat.sum() < 2:
        return None
    try:
        gg = fit_gamma_gamma(summary.loc[repeat, "frequency"], summary.loc[repeat, "monetary_value"])
    except RuntimeError:  # e.g. every purchase day worth the same: no spread of spend to fit
        return None
    spend = expected_average_spend(gg, summary["frequency"], summary["monetary_value"])
    purchases = expected_purchases_of(model, params, horizon_days, summary)
    sims = simulate_revenue(
        predictions[model],
        purchases,
        summary["frequency"].to_numpy(),
        summary["monetary_value"].to_numpy(),
        gg,
    )
    return revenue_interval(sims[ALL_CUSTOMERS].to_numpy(), float((purchases * spend).sum()))


def same_period_last_year(days: pd.DataFrame, as_of: date, horizon_days: int) -> float | None:
    """Revenue of all customers in the same ``horizon_days`` one year before ``as_of`` (the days after
    ``as_of - 365``), or None when the data do not reach back that far."""
    start = as_of - timedelta(days=365)
    if days.empty or days["purchase_date"].min() > pd.Timestamp(start):
        return None
    window = days["purchase_date"].between(
        pd.Timestamp(start), pd.Timestamp(start + timedelta(days=horizon_days)), inclusive="left"
    )
    return float(days.loc[window, "revenue"].sum())
