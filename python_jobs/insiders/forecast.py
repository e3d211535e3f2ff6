"""Customer-lifetime-value forecasting: BG/NBD or Pareto/NBD for purchase counts, Gamma-Gamma for spend.

Three models, all fitted by maximum likelihood on one row per customer:

* **BG/NBD** — Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
  Pareto/NBD Model", *Marketing Science* 24(2). While alive, a customer buys as a Poisson process of
  rate ``λ ~ Gamma(r, α)`` (shape ``r``, rate ``α``); after each purchase they drop out with probability
  ``p ~ Beta(a, b)``. Inputs per customer: ``x`` = number of repeat purchases, ``t_x`` = time of the last
  purchase measured from the first one, ``T`` = time from the first purchase to the end of observation.
* **Pareto/NBD** — Schmittlein, Morrison & Colombo (1987), in the form of Fader, Hardie & Lee (2005),
  "A Note on Deriving the Pareto/NBD Model and Related Expressions". Same purchase process, but a
  customer drops out at any time, after an exponential lifetime of rate ``μ ~ Gamma(s, β)``.
* **Gamma-Gamma** — Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
  Analysis", *Journal of Marketing Research* 42(4). The value of each transaction is
  ``z ~ Gamma(p, ν)``, with ``ν ~ Gamma(q, γ)`` across customers (``γ`` is called ``v`` here). Inputs:
  ``x`` repeat purchases and their mean value ``m_x``.

Times may be in any unit (days, weeks...) as long as ``recency``, ``T`` and the forecast horizons use the
same one; ``alpha`` is then expressed in that unit. Everything here is pure numpy/scipy/pandas, with no
I/O. :func:`rfm_summary` builds the model inputs from transaction rows and :func:`customer_forecast`
puts the predictions together; :func:`probability_of_purchase` and :func:`pareto_probability_of_purchase`
give P(at least one purchase in the next ``t``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, special

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]

# Bounds of the optimiser in log-parameter space: exp(±30) keeps every parameter strictly positive and
# finite, and far outside any plausible value once times and amounts are rescaled (see the fit functions).
_LOG_BOUND = 30.0
# Largest gradient of the mean negative log-likelihood (wrt log-parameters) accepted as "converged".
_GRADIENT_TOLERANCE = 1e-5
# Pareto/NBD: exp(±10) on times scaled by their mean age. Along the flat no-dropout ridge (s -> 0,
# beta -> infinity) the likelihood changes by less than 1e-6 beyond it, while the hypergeometric terms
# get slow to evaluate.
_PARETO_LOG_BOUND = 10.0


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD parameters: ``λ ~ Gamma(r, alpha)`` (rate ``alpha``, per time unit of the data) and
    dropout probability ``p ~ Beta(a, b)``."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters: transaction value ``z ~ Gamma(p, ν)``, ``ν ~ Gamma(q, v)``."""

    p: float
    q: float
    v: float


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------


def _as_float(values: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    return arr


def _customer_arrays(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate (x, t_x, T) and broadcast them to a common shape."""
    x = _as_float(frequency, "frequency")
    t_x = _as_float(recency, "recency")
    age = _as_float(T, "T")
    x, t_x, age = np.broadcast_arrays(x, t_x, age)
    if np.any(x != np.round(x)):
        raise ValueError("frequency (number of repeat purchases) must be integer-valued")
    if np.any(t_x > age):
        raise ValueError("recency cannot exceed T (the last purchase happens before the end of observation)")
    return x, t_x, age


def _fit_weights(weights: ArrayLike | None, size: int) -> FloatArray | None:
    """Validate optional per-row weights of a fit (how many customers share a row's inputs)."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != (size,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be one finite, non-negative number per customer row, not all 0")
    return w


def _mean(values: FloatArray, weights: FloatArray | None, axis: int = -1) -> FloatArray | float:
    """The mean over customers; with ``weights``, the weighted mean (rows that stand for several)."""
    if weights is None:
        return values.mean(axis=axis)
    return (values * weights).sum(axis=axis) / weights.sum()


def _minimize(
    objective: Callable[[FloatArray], tuple[float, FloatArray]], size: int, model: str
) -> FloatArray:
    """Minimise a (value, gradient) objective over log-parameters, starting from all parameters = 1.

    L-BFGS-B is asked for more precision than double arithmetic always allows; when its line search then
    stops "abnormally" at a point where the gradient is already negligible, that point is the optimum.
    """
    result = optimize.minimize(
        objective,
        x0=np.zeros(size),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * size,
        options={"maxiter": 5000, "ftol": 1e-14, "gtol": 1e-9},
    )
    converged = result.success or np.max(np.abs(result.jac)) <= _GRADIENT_TOLERANCE
    if not converged or not np.all(np.isfinite(result.x)):
        raise RuntimeError(f"{model} fit did not converge: {result.message}")
    return result.x


def fit_rows(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, max_rows: int, *, seed: int = 0
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray | None]:
    """The rows a BG/NBD or Pareto/NBD fit runs on, at a cost bounded by ``max_rows``: ``(x, t_x, T,
    weights)``.

    Up to ``max_rows`` customers: the customers themselves, ``weights`` None (the plain fit, unchanged).
    Above: their distinct ``(x, t_x, T)`` with the number of customers of each as weights (the same
    likelihood, so the same maximum: BG/NBD to ~1e-11 at 10 copies of 10x; Pareto/NBD stops elsewhere
    on its flat s/beta ridge, r within 1.5%; inputs in whole days repeat a lot); when even the
    distinct rows exceed ``max_rows``, those of a random sample of ``max_rows`` customers (seeded: the
    same data give the same fit), whose maximum-likelihood estimate differs from the full one by its
    sampling error, of order ``1/sqrt(max_rows)`` relative. Predictions are then made for everyone.
    """
    x, t_x, age = (a.ravel() for a in _customer_arrays(frequency, recency, T))
    if x.size <= max_rows:
        return x, t_x, age, None
    rows = np.column_stack([x, t_x, age])
    distinct, counts = np.unique(rows, axis=0, return_counts=True)
    if len(distinct) > max_rows:
        sample = np.random.default_rng(seed).choice(x.size, size=max_rows, replace=False)
        distinct, counts = np.unique(rows[sample], axis=0, return_counts=True)
    return distinct[:, 0], distinct[:, 1], distinct[:, 2], counts.astype(np.float64)


# --------------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------------


def _bg_nbd_loglik(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-customer log-likelihood (eq. 6 of the BG/NBD paper) and its gradient wrt (r, alpha, a, b).

    L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
        + [x > 0] · B(a+1, b+x-1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x)),

    summed in log space (log-sum-exp of the two terms). Returns ``(ll, grad)`` with ``grad`` of shape
    ``(4, n)``.
    """
    repeat = x > 0
    x_rep = np.where(repeat, x, 1.0)  # keeps b + x - 1 > 0 in the masked-out term
    log_beta_ab = special.betaln(a, b)
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    log_alive = special.betaln(a, b + x) - log_beta_ab - (r + x) * np.log(alpha + age)
    log_dead = np.where(
        repeat,
        special.betaln(a + 1.0, b + x_rep - 1.0) - log_beta_ab - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    log_sum = np.logaddexp(log_alive, log_dead)
    ll = common + log_sum

    # Posterior weights of the two terms ("still alive at T" / "dropped out after the last purchase").
    w_alive = np.exp(log_alive - log_sum)
    w_dead = 1.0 - w_alive
    psi = special.digamma
    psi_ab = psi(a + b)
    psi_abx = psi(a + b + x)
    d_r = psi(r + x) - psi(r) + np.log(alpha) - w_alive * np.log(alpha + age) - w_dead * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (w_alive / (alpha + age) + w_dead / (alpha + t_x))
    d_a = w_alive * (psi_ab - psi_abx) + w_dead * (psi(a + 1.0) - psi(a) + psi_ab - psi_abx)
    d_b = w_alive * (psi(b + x) - psi(b) + psi_ab - psi_abx) + w_dead * (
        psi(b + x_rep - 1.0) - psi(b) + psi_ab - psi_abx
    )
    return ll, np.stack([d_r, d_alpha, d_a, d_b])


def fit_bg_nbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    penalizer: float = 0.0,
    weights: ArrayLike | None = None,
) -> BgNbdParams:
    """Fit the BG/NBD model by maximum likelihood.

    Args:
        frequency: number of repeat purchases ``x`` of each customer (purchases after the first one).
        recency: time of the last purchase, measured from the first one (``t_x``; 0 when ``x`` is 0).
        T: age of each customer: time from the first purchase to the end of the observation period.
        penalizer: optional L2 penalty ``penalizer · (r² + alpha² + a² + b²)`` added to the *mean*
            negative log-likelihood (parameters in the caller's time unit); 0 gives the plain MLE.
        weights: optional number of customers each row stands for (distinct inputs with their
            counts give the fit of the customers themselves; see :func:`fit_rows`).

    Returns:
        The fitted :class:`BgNbdParams`, ``alpha`` in the time unit of ``recency`` and ``T``.

    The optimiser (L-BFGS-B with the analytic gradient) works on log-parameters, so that every parameter
    stays positive, and on times divided by their mean age, so that the starting point (all parameters 1)
    is sensible whatever the time unit; ``alpha`` is scaled back afterwards.

    Raises:
        ValueError: on empty, negative, non-finite or inconsistent inputs, or a negative penalizer.
        RuntimeError: when the optimiser does not converge.
    """
    x, t_x, age = _customer_arrays(frequency, recency, T)
    x, t_x, age = x.ravel(), t_x.ravel(), age.ravel()
    if x.size == 0:
        raise ValueError("cannot fit on zero customers")
    if penalizer < 0:
        raise ValueError("penalizer must be non-negative")
    w = _fit_weights(weights, x.size)
    scale = float(_mean(age, w))
    if scale <= 0:
        raise ValueError("T must be positive for at least one customer")
    t_x_s, age_s = t_x / scale, age / scale
    unscale = np.array([1.0, scale, 1.0, 1.0])  # parameters in the caller's unit = scaled ones · unscale

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(log_params)
        ll, grad = _bg_nbd_loglik(*params, x, t_x_s, age_s)
        natural = params * unscale
        value = -_mean(ll, w) + penalizer * np.sum(natural**2)
        # Chain rule for the log-parametrisation: d/dlog θ = θ · d/dθ.
        gradient = -_mean(grad, w, axis=1) * params + 2.0 * penalizer * natural**2
        return float(value), gradient

    r, alpha, a, b = np.exp(_minimize(objective, 4, "BG/NBD")) * unscale
    return BgNbdParams(r=float(r), alpha=float(alpha), a=float(a), b=float(b))


def _log_odds_dead(
    params: BgNbdParams, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """log of ``[x > 0] · a/(b+x-1) · ((α+T)/(α+t_x))^(r+x)`` — the odds "dropped out" vs "alive".

    Computed in log space because the power overflows for frequent buyers who stopped long ago. Returns
    the log-odds (``-inf`` for ``x == 0``) and the mask ``x > 0``.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    x_rep = np.where(repeat, x, 1.0)
    log_odds = np.log(a) - np.log(b + x_rep - 1.0) + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
    return np.where(repeat, log_odds, -np.inf), repeat


def probability_alive(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(customer still alive at ``T`` | x, t_x, T) under BG/NBD (eq. 12 of the paper).

    ``1 / (1 + [x > 0] · a/(b+x-1) · ((α+T)/(α+t_x))^(r+x))``. In BG/NBD a customer can only drop out
    right after a purchase, so a customer with no repeat purchase (``x == 0``) is alive with probability 1.
    """
    x, t_x, age = _customer_arrays(frequency, recency, T)
    log_odds, _ = _log_odds_dead(params, x, t_x, age)
    return special.expit(-log_odds)


def expected_purchases(
    params: BgNbdParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Expected number of purchases in the next ``t`` time units, given x, t_x and T (eq. 10 of the paper).

    E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x-1; z)]
                          / (1 + [x > 0] · a/(b+x-1) · ((α+T)/(α+t_x))^(r+x)),   z = t/(α+T+t).

    For numerical stability the bracket uses Euler's transformation
    ``₂F₁(A, B; C; z) = (1-z)^(C-A-B) ₂F₁(C-A, C-B; C; z)``, which turns the product above into
    ``(1-z)^(a-1) · ₂F₁(a+b-1-r, a-1; a+b+x-1; z)``: the first two arguments no longer grow with ``x`` and
    the huge hypergeometric value / tiny power pair of the original form (the "#NUM!" problem noted by
    Fader & Hardie) disappears. The denominator is evaluated as a logistic of the log-odds, so it cannot
    overflow either. ``t`` broadcasts against the customer arrays. The formula needs ``a != 1``.
    """
    horizon = _as_float(t, "t")
    x, t_x, age = _customer_arrays(frequency, recency, T)
    horizon, x, t_x, age = np.broadcast_arrays(horizon, x, t_x, age)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if a == 1.0:
        raise ValueError("expected_purchases needs a != 1 (eq. 10 of the BG/NBD paper is singular there)")
    one_minus_z = (alpha + age) / (alpha + age + horizon)
    z = horizon / (alpha + age + horizon)
    hyp = special.hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    bracket = 1.0 - one_minus_z ** (a - 1.0) * hyp
    log_odds, _ = _log_odds_dead(params, x, t_x, age)
    expected = (a + b + x - 1.0) / (a - 1.0) * bracket * special.expit(-log_odds)
    # Exactly 0 for t == 0; tiny negative round-off for t -> 0 is clipped.
    return np.maximum(expected, 0.0)


def probability_of_purchase(
    params: BgNbdParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(at least one purchase in the next ``t`` time units | x, t_x, T) under BG/NBD, in closed form.

    A customer dead at ``T`` never buys again; a living one drops out only *after* a purchase, so the
    first purchase after ``T`` comes with probability ``1 - E[exp(-λ t)]`` whatever their dropout
    probability. Given alive, ``λ ~ Gamma(r+x, α+T)``, hence

        P(Y(t) > 0) = P(alive) · (1 - ((α+T)/(α+T+t))^(r+x)).
    """
    horizon = _as_float(t, "t")
    x, t_x, age = _customer_arrays(frequency, recency, T)
    horizon, x, t_x, age = np.broadcast_arrays(horizon, x, t_x, age)
    log_odds, _ = _log_odds_dead(params, x, t_x, age)
    log_quiet = (params.r + x) * (np.log(params.alpha + age) - np.log(params.alpha + age + horizon))
    return special.expit(-log_odds) * -np.expm1(log_quiet)


# --------------------------------------------------------------------------------------------------
# Pareto/NBD
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParetoNbdParams:
    """Fitted Pareto/NBD parameters: purchase rate ``λ ~ Gamma(r, alpha)`` and dropout rate
    ``μ ~ Gamma(s, beta)`` (both rates per time unit of the data)."""

    r: float
    alpha: float
    s: float
    beta: float


def _pareto_log_a0(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    """log A₀ of Fader, Hardie & Lee (2005), "A Note on Deriving the Pareto/NBD Model":

    A₀ = ₂F₁(r+s+x, b; r+s+x+1; |α-β|/(m+t_x)) / (m+t_x)^(r+s+x)
         - ₂F₁(r+s+x, b; r+s+x+1; |α-β|/(m+T)) / (m+T)^(r+s+x),

    with ``m = max(α, β)`` and ``b = s+1`` if ``α >= β`` else ``r+x``. Pfaff's transformation
    ``₂F₁(A, b; A+1; z) = (1-z)^(-b) ₂F₁(1, b; A+1; z/(z-1))`` moves the argument from near 1 (slow, and
    inaccurate, when α and β are far apart) to the negative axis, and ``1-z = (min(α,β)+t)/(m+t)``
    is taken in logs. The difference is taken in log space (``log(e^u - e^w) = u + log(-expm1(w-u))``);
    it is ``-inf`` when ``t_x == T``.
    """
    rsx = r + s + x
    if alpha >= beta:
        m, low, b = alpha, beta, s + 1.0
    else:
        m, low, b = beta, alpha, r + x

    def log_term(t: FloatArray) -> FloatArray:
        log_one_minus_z = np.log(low + t) - np.log(m + t)
        w = -(m - low) / (low + t)  # z / (z - 1)
        return -b * log_one_minus_z + np.log(special.hyp2f1(1.0, b, rsx + 1.0, w)) - rsx * np.log(m + t)

    first, second = log_term(t_x), log_term(age)
    with np.errstate(divide="ignore"):
        return first + np.log(-np.expm1(np.minimum(second - first, 0.0)))


def _pareto_log_odds_dead(
    params: ParetoNbdParams, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    """log of ``s/(r+s+x) · (α+T)^(r+x) (β+T)^s · A₀`` — the odds "dropped out before T" vs "alive"."""
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    log_a0 = _pareto_log_a0(r, alpha, s, beta, x, t_x, age)
    return np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + age) + s * np.log(beta + age) + log_a0


def _pareto_nbd_loglik(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    """Per-customer log-likelihood (eq. 17 of the note):

    L = Γ(r+x) α^r β^s / Γ(r) · [1 / ((α+T)^(r+x) (β+T)^s) + s/(r+s+x) · A₀].
    """
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)
    dead = np.log(s) - np.log(r + s + x) + _pareto_log_a0(r, alpha, s, beta, x, t_x, age)
    return common + np.logaddexp(alive, dead)


def fit_pareto_nbd(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None
) -> ParetoNbdParams:
    """Fit the Pareto/NBD model (Schmittlein, Morrison & Colombo 1987) by maximum likelihood.

    Same inputs as :func:`fit_bg_nbd` (``x`` repeat purchases, ``t_x`` time of the last one from the
    first, ``T`` age). Unlike BG/NBD a customer can drop out at any time (rate ``μ``), so a one-time
    buyer who has not come back for long is probably gone. The optimiser works on log-parameters and on
    times divided by their mean age; ``alpha`` and ``beta`` are scaled back to the caller's unit. On
    the CDNOW sample (weeks) it gives Fader, Hardie & Lee's r 0.553, alpha 10.58, s 0.606, beta 11.67.
    ``weights``: as in :func:`fit_bg_nbd`.

    Raises:
        ValueError: on empty, negative, non-finite or inconsistent inputs.
        RuntimeError: when the optimiser does not converge.
    """
    x, t_x, age = _customer_arrays(frequency, recency, T)
    x, t_x, age = x.ravel(), t_x.ravel(), age.ravel()
    if x.size == 0:
        raise ValueError("cannot fit on zero customers")
    w = _fit_weights(weights, x.size)
    scale = float(_mean(age, w))
    if scale <= 0:
        raise ValueError("T must be positive for at least one customer")
    t_x_s, age_s = t_x / scale, age / scale

    def objective(log_params: FloatArray) -> float:
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            ll = _pareto_nbd_loglik(*np.exp(log_params), x, t_x_s, age_s)
        # A hypergeometric term that overflows far from the optimum: a bad point, not a failure.
        return float(-_mean(ll, w)) if np.all(np.isfinite(ll)) else 1e10

    # No analytic gradient here: L-BFGS-B on finite differences. Where the data show no dropout the
    # likelihood is flat along s -> 0, beta -> infinity (only the mean rate s/beta matters); the
    # optimiser then stops on that ridge, which is the maximum.
    result = optimize.minimize(
        objective, x0=np.zeros(4), method="L-BFGS-B", bounds=[(-_PARETO_LOG_BOUND, _PARETO_LOG_BOUND)] * 4,
        options={"maxiter": 5000, "ftol": 1e-13, "gtol": 1e-8},
    )  # fmt: skip
    if not np.all(np.isfinite(result.x)) or result.fun >= 1e10 or result.status not in (0, 2):
        raise RuntimeError(f"Pareto/NBD fit did not converge: {result.message}")
    r, alpha, s, beta = np.exp(result.x) * np.array([1.0, scale, 1.0, scale])
    return ParetoNbdParams(r=float(r), alpha=float(alpha), s=float(s), beta=float(beta))


def pareto_probability_alive(
    params: ParetoNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(customer still alive at ``T`` | x, t_x, T) under Pareto/NBD: ``1 / (1 + odds dead)``."""
    x, t_x, age = _customer_arrays(frequency, recency, T)
    return special.expit(-_pareto_log_odds_dead(params, x, t_x, age))


def pareto_expected_purchases(
    params: ParetoNbdParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T] = (r+x)(β+T) / ((α+T)(s-1)) · [1 - ((β+T)/(β+T+t))^(s-1)] · P(alive)
    (eq. 23 of the note; the ``s -> 1`` limit is the logarithm)."""
    horizon = _as_float(t, "t")
    x, t_x, age = _customer_arrays(frequency, recency, T)
    horizon, x, t_x, age = np.broadcast_arrays(horizon, x, t_x, age)
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    log_ratio = np.log(beta + age + horizon) - np.log(beta + age)
    if abs(s - 1.0) < 1e-9:
        survival_time = (beta + age) * log_ratio
    else:
        survival_time = (beta + age) * -np.expm1(-(s - 1.0) * log_ratio) / (s - 1.0)
    alive = special.expit(-_pareto_log_odds_dead(params, x, t_x, age))
    return (r + x) / (alpha + age) * survival_time * alive


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(48)


def pareto_probability_of_purchase(
    params: ParetoNbdParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(at least one purchase in the next ``t`` time units | x, t_x, T) under Pareto/NBD.

    Given alive at ``T``, ``λ ~ Gamma(R, A)`` and ``μ ~ Gamma(S, B)`` independently (``R = r+x``,
    ``A = α+T``, ``S = s``, ``B = β+T``), and a customer with rates (λ, μ) buys before dying and before
    ``t`` with probability ``∫₀ᵗ λ e^{-(λ+μ)u} du``. Averaging over the posteriors:

        P(Y(t) > 0 | alive) = ∫₀ᵗ (R/A) (A/(A+u))^(R+1) (B/(B+u))^S du.

    The substitution ``v = 1 - (A/(A+u))^R`` (so ``dv = (R/A)(A/(A+u))^(R+1) du``) turns it into
    ``∫₀^{v_max} (B/(B+u(v)))^S dv`` with ``u(v) = A((1-v)^(-1/R) - 1)``: a bounded, smooth integrand on
    a short interval, integrated by 48-point Gauss-Legendre quadrature; no overflow for frequent buyers.
    The quadrature holds 48 values per customer: computed ``_QUADRATURE_ROWS`` customers at a time
    (433k customers at once held about 1 GB of temporaries), each customer's value the same.
    """
    horizon = _as_float(t, "t")
    x, t_x, age = _customer_arrays(frequency, recency, T)
    horizon, x, t_x, age = np.broadcast_arrays(horizon, x, t_x, age)
    shape = x.shape
    horizon, x, t_x, age = (np.ravel(a) for a in (horizon, x, t_x, age))
    out = np.empty(x.size)
    for start in range(0, x.size, _QUADRATURE_ROWS):
        rows = slice(start, start + _QUADRATURE_ROWS)
        out[rows] = _pareto_purchase_chunk(params, horizon[rows], x[rows], t_x[rows], age[rows])
    return out.reshape(shape)


_QUADRATURE_ROWS = 50_000


def _pareto_purchase_chunk(
    params: ParetoNbdParams, horizon: FloatArray, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    big_r, big_a = params.r + x, params.alpha + age
    big_b = params.beta + age
    v_max = -np.expm1(big_r * (np.log(big_a) - np.log(big_a + horizon)))
    v = 0.5 * v_max[..., None] * (_NODES + 1.0)
    u = big_a[..., None] * np.expm1(-np.log1p(-v) / big_r[..., None])
    integrand = np.exp(-params.s * np.log1p(u / big_b[..., None]))
    given_alive = 0.5 * v_max * (integrand @ _WEIGHTS)
    alive = special.expit(-_pareto_log_odds_dead(params, x, t_x, age))
    return np.clip(alive * given_alive, 0.0, 1.0)


# --------------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------------


def _gamma_gamma_loglik(
    p: float, q: float, v: float, x: FloatArray, m: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-customer log-density of the mean spend ``m_x`` given ``x`` (iso-value paper, eq. 3 / appendix)
    and its gradient wrt (p, q, v).

    f(m_x | x) = Γ(px+q) / (Γ(px) Γ(q)) · v^q · m_x^(px-1) · x^(px) / (v + x·m_x)^(px+q)
    """
    px = p * x
    log_total = np.log(v + x * m)
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_total
    )
    psi_pq = special.digamma(px + q)
    d_p = x * (psi_pq - special.digamma(px) + np.log(m) + np.log(x) - log_total)
    d_q = psi_pq - special.digamma(q) + np.log(v) - log_total
    d_v = q / v - (px + q) / (v + x * m)
    return ll, np.stack([d_p, d_q, d_v])


def fit_gamma_gamma(frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaParams:
    """Fit the Gamma-Gamma spend model by maximum likelihood.

    Args:
        frequency: number of repeat purchases ``x`` of each customer.
        monetary_value: mean value ``m_x`` of those repeat purchases.

    Only repeat customers carry information on spend: customers with ``frequency == 0`` are **filtered out
    here** (whatever their monetary value), so the output of :func:`rfm_summary` can be passed as is. Repeat
    customers must have a strictly positive ``monetary_value`` (filter returns / zero-value rows first).

    The optimiser works on log-parameters and on amounts divided by their mean, so the result does not
    depend on the currency unit; ``v`` is scaled back afterwards. The model assumes that spend is
    independent of the purchase process (check the correlation of ``frequency`` and ``monetary_value``).

    Raises:
        ValueError: on bad inputs, fewer than two repeat customers, or non-positive spend of a repeat
            customer.
        RuntimeError: when the optimiser does not converge.
    """
    x = _as_float(frequency, "frequency").ravel()
    m = np.asarray(monetary_value, dtype=np.float64).ravel()
    if x.shape != m.shape:
        raise ValueError("frequency and monetary_value must have the same length")
    if np.any(x != np.round(x)):
        raise ValueError("frequency (number of repeat purchases) must be integer-valued")
    repeat = x > 0
    x, m = x[repeat], m[repeat]
    if x.size < 2:
        raise ValueError("need at least two customers with frequency > 0 to fit the Gamma-Gamma model")
    if not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise ValueError("monetary_value must be finite and > 0 for every customer with frequency > 0")
    scale = float(m.mean())
    m_s = m / scale

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(log_params)
        ll, grad = _gamma_gamma_loglik(*params, x, m_s)
        return float(-ll.mean()), -grad.mean(axis=1) * params

    p, q, v = np.exp(_minimize(objective, 3, "Gamma-Gamma"))
    return GammaGammaParams(p=float(p), q=float(q), v=float(v * scale))


def expected_average_spend(
    gg_params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> FloatArray:
    """Conditional expected value of a transaction, E(M | x, m_x) (iso-value paper, eq. 5).

    E(M | x, m_x) = (q-1)/(px+q-1) · p·v/(q-1) + px/(px+q-1) · m_x,

    a weighted average of the population mean ``p·v/(q-1)`` and the customer's observed mean. For
    ``frequency == 0`` the weight of ``m_x`` is 0 and the result is the population mean (``m_x`` is then
    ignored, whatever it holds). Requires ``q > 1`` (otherwise the population mean is infinite).
    """
    p, q, v = gg_params.p, gg_params.q, gg_params.v
    if q <= 1.0:
        raise ValueError("q <= 1: the Gamma-Gamma model implies an infinite mean transaction value")
    x = _as_float(frequency, "frequency")
    m = np.asarray(monetary_value, dtype=np.float64)
    x, m = np.broadcast_arrays(x, m)
    repeat = x > 0
    m = np.where(repeat, m, 0.0)
    if not np.all(np.isfinite(m)) or np.any(m[repeat] <= 0):
        raise ValueError("monetary_value must be finite and > 0 for every customer with frequency > 0")
    px = p * x
    return (p * v + px * m) / (px + q - 1.0)


# --------------------------------------------------------------------------------------------------
# Putting it together
# --------------------------------------------------------------------------------------------------


def customer_forecast(
    bg_params: BgNbdParams,
    gg_params: GammaGammaParams,
    summary: pd.DataFrame,
    horizons: Sequence[float] = (30, 90, 180),
) -> pd.DataFrame:
    """Per-customer forecast from a summary with columns ``frequency``, ``recency``, ``T`` and
    ``monetary_value`` (as made by :func:`rfm_summary`).

    Returns a frame on the same index with ``p_alive``, ``expected_spend`` (E(M | x, m_x)) and, for each
    horizon ``h`` (same time unit as the fit, e.g. days), ``expected_purchases_{h}`` and
    ``expected_revenue_{h}`` = expected purchases × expected spend (the two models are independent). The
    revenue is undiscounted.
    """
    x = summary["frequency"].to_numpy()
    t_x = summary["recency"].to_numpy()
    age = summary["T"].to_numpy()
    spend = expected_average_spend(gg_params, x, summary["monetary_value"].to_numpy())
    columns: dict[str, FloatArray] = {
        "p_alive": probability_alive(bg_params, x, t_x, age),
        "expected_spend": spend,
    }
    for h in horizons:
        label = f"{h:g}"
        purchases = expected_purchases(bg_params, h, x, t_x, age)
        columns[f"expected_purchases_{label}"] = purchases
        columns[f"expected_revenue_{label}"] = purchases * spend
    return pd.DataFrame(columns, index=summary.index)


def rfm_summary(
    df: pd.DataFrame,
    customer_col: str,
    date_col: str,
    value_col: str,
    as_of: str | pd.Timestamp,
    freq: str = "D",
) -> pd.DataFrame:
    """Build the per-customer (frequency, recency, T, monetary_value) inputs of the models.

    Transactions are grouped into purchase periods: all rows of a customer in the same period (a day with
    the default ``freq='D'``; any pandas period alias works, e.g. ``'W'``) form one purchase whose value is
    the sum of ``value_col``. ``as_of`` is the last observed *day*: rows dated after that day are ignored,
    every row of the day itself is kept (whatever its time of day), and rows with a missing customer or
    date are dropped. With ``first``/``last`` the customer's first/last purchase period and ``end`` the
    period of ``as_of``:

    * ``frequency`` — number of distinct purchase periods after the first one (repeat purchases);
    * ``recency`` — ``last - first``, in periods (days by default); 0 when ``frequency`` is 0;
    * ``T`` — ``end - first``, in periods (the customer's age at the end of observation);
    * ``monetary_value`` — mean value of the repeat purchase periods (the first purchase is excluded, as
      in the Gamma-Gamma paper); 0 when ``frequency`` is 0.

    Returns a frame indexed by customer (sorted), with those four float columns.
    """
    last_day = pd.Timestamp(as_of).normalize()
    dates = pd.to_datetime(df[date_col])
    keep = df[customer_col].notna() & dates.notna() & (dates.dt.normalize() <= last_day)
    data = pd.DataFrame(
        {
            "customer": df.loc[keep, customer_col].to_numpy(),
            "period": pd.PeriodIndex(dates[keep], freq=freq).asi8,
            "value": pd.to_numeric(df.loc[keep, value_col]).to_numpy(dtype=np.float64),
        }
    )
    per_period = data.groupby(["customer", "period"], sort=True)["value"].sum().reset_index()
    first_period = per_period.groupby("customer")["period"].transform("min")
    per_period["is_repeat"] = per_period["period"] > first_period
    grouped = per_period.groupby("customer", sort=True)
    first = grouped["period"].min()
    last = grouped["period"].max()
    frequency = grouped["is_repeat"].sum()
    repeat_value = per_period.loc[per_period["is_repeat"]].groupby("customer")["value"].mean()
    end_period = pd.Period(last_day, freq=freq).ordinal
    summary = pd.DataFrame(
        {
            "frequency": frequency.astype(np.float64),
            "recency": (last - first).astype(np.float64),
            "T": (end_period - first).astype(np.float64),
            "monetary_value": repeat_value.reindex(first.index, fill_value=0.0).astype(np.float64),
        }
    )
    summary.index.name = customer_col
    return summary
