"""BG/NBD and Gamma-Gamma: published CDNOW estimates, prediction properties, synthetic recovery, RFM summary.

The CDNOW data are read from the files shipped in the ``lifetimes`` wheel (a dev dependency), located
without importing that package (it does not import under numpy 2).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from insiders.forecast import (
    BgNbdParams,
    GammaGammaParams,
    ParetoNbdParams,
    customer_forecast,
    expected_average_spend,
    expected_purchases,
    fit_bg_nbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    fit_rows,
    pareto_expected_purchases,
    pareto_probability_alive,
    pareto_probability_of_purchase,
    probability_alive,
    probability_of_purchase,
    rfm_summary,
)

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", CDNOW sample of 2,357 customers,
# 39-week calibration period, time unit = week.
PUBLISHED_BG_NBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves", same sample, 946 repeat customers.
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}
# Fader, Hardie & Lee (2005), "A Note on Deriving the Pareto/NBD Model and Related Expressions", same
# sample and calibration period (the estimates first published in "Counting your customers...").
PUBLISHED_PARETO_NBD = {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67}
CALIBRATION_END = "1997-09-30"


@pytest.fixture(scope="module")
def cdnow_dir() -> Path:
    """The ``datasets`` folder of the installed lifetimes package (found without importing it)."""
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the lifetimes package (dev dependency shipping the CDNOW data files) is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets"
    assert (folder / "cdnow_customers_summary.csv").is_file(), f"no CDNOW files in {folder}"
    return folder


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_dir: Path) -> pd.DataFrame:
    """Per-customer x, t_x, T (weeks) and mean repeat spend zbar of the 2,357 CDNOW customers."""
    frame = pd.read_csv(cdnow_dir / "cdnow_customers_summary_with_transactions.csv")
    assert len(frame) == 2357
    return frame


@pytest.fixture(scope="module")
def cdnow_bg(cdnow_dir: Path) -> BgNbdParams:
    frame = pd.read_csv(cdnow_dir / "cdnow_customers_summary.csv")
    assert len(frame) == 2357
    return fit_bg_nbd(frame["frequency"], frame["recency"], frame["T"])


@pytest.fixture(scope="module")
def cdnow_pnbd(cdnow_summary: pd.DataFrame) -> ParetoNbdParams:
    return fit_pareto_nbd(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"])


@pytest.fixture(scope="module")
def cdnow_gg(cdnow_summary: pd.DataFrame) -> GammaGammaParams:
    return fit_gamma_gamma(cdnow_summary["x"], cdnow_summary["zbar"])


def _assert_close_to_published(fitted: object, published: dict[str, float], rel: float) -> None:
    errors = {name: getattr(fitted, name) / value - 1.0 for name, value in published.items()}
    assert all(abs(e) <= rel for e in errors.values()), f"relative errors vs published: {errors}"


# --------------------------------------------------------------------------------------------------
# Published CDNOW estimates
# --------------------------------------------------------------------------------------------------


def test_bg_nbd_reproduces_published_cdnow_parameters(cdnow_bg):
    _assert_close_to_published(cdnow_bg, PUBLISHED_BG_NBD, rel=0.02)


def test_pareto_nbd_reproduces_published_cdnow_parameters(cdnow_pnbd):
    # The published figures have 3-4 significant digits: 0.5% is their rounding, not slack.
    _assert_close_to_published(cdnow_pnbd, PUBLISHED_PARETO_NBD, rel=0.005)


def test_gamma_gamma_reproduces_published_cdnow_parameters(cdnow_summary, cdnow_gg):
    assert (cdnow_summary["x"] > 0).sum() == 946  # the fit uses only the repeat customers
    _assert_close_to_published(cdnow_gg, PUBLISHED_GAMMA_GAMMA, rel=0.02)


def test_gamma_gamma_ignores_non_repeat_customers_whatever_their_value(cdnow_summary, cdnow_gg):
    noisy = cdnow_summary["zbar"].where(cdnow_summary["x"] > 0, -1.0)
    assert fit_gamma_gamma(cdnow_summary["x"], noisy) == cdnow_gg


def test_conditional_expectation_of_customer_1(cdnow_bg):
    # Worked example of Fader & Hardie's BG/NBD notes: CDNOW customer 1 (x=2, t_x=30.43, T=38.86)
    # is expected to make 1.226 purchases in the next 39 weeks.
    assert expected_purchases(cdnow_bg, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=0.001)


def test_rfm_summary_reproduces_cdnow_calibration_summary(cdnow_dir, cdnow_summary):
    rows = pd.read_csv(
        cdnow_dir / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer", "date", "cds", "value"],
        dtype={"date": str},
    )
    rows["date"] = pd.to_datetime(rows["date"], format="%Y%m%d")
    summary = rfm_summary(rows, "customer", "date", "value", as_of=CALIBRATION_END)

    expected = cdnow_summary.set_index("ID")
    assert summary.index.tolist() == expected.index.tolist()
    np.testing.assert_array_equal(summary["frequency"], expected["x"])
    # The published summary is in weeks rounded to 2 decimals, spend rounded to the cent.
    np.testing.assert_allclose(summary["recency"] / 7, expected["t_x"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(summary["T"] / 7, expected["T"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(summary["monetary_value"], expected["zbar"], atol=0.005 + 1e-9)


# --------------------------------------------------------------------------------------------------
# Prediction properties
# --------------------------------------------------------------------------------------------------


def test_predictions_on_cdnow_are_finite_bounded_and_monotone(cdnow_bg, cdnow_summary):
    x, t_x, age = cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"]
    alive = probability_alive(cdnow_bg, x, t_x, age)
    assert np.all(np.isfinite(alive))
    assert np.all((alive >= 0) & (alive <= 1))
    # BG/NBD: dropout only happens right after a repeat purchase, so x = 0 means alive for sure.
    np.testing.assert_array_equal(alive[x == 0], 1.0)
    assert np.all(alive[x > 0] < 1)

    horizons = [1, 4, 13, 39, 78, 520]
    forecasts = np.array([expected_purchases(cdnow_bg, h, x, t_x, age) for h in horizons])
    assert np.all(np.isfinite(forecasts))
    assert np.all(forecasts >= 0)
    assert np.all(np.diff(forecasts, axis=0) > 0)
    np.testing.assert_array_equal(expected_purchases(cdnow_bg, 0, x, t_x, age), 0.0)


def test_expected_purchases_matches_the_papers_direct_form(cdnow_bg):
    """The Euler-transformed bracket equals eq. 10 as printed, where the latter is well-behaved."""
    r, alpha, a, b = cdnow_bg.r, cdnow_bg.alpha, cdnow_bg.a, cdnow_bg.b
    t = np.array([1.0, 39.0, 39.0, 13.0, 100.0, 52.0])
    x = np.array([0.0, 2.0, 0.0, 7.0, 15.0, 1.0])
    t_x = np.array([0.0, 30.43, 0.0, 20.0, 35.0, 1.71])
    age = np.array([10.0, 38.86, 38.86, 38.0, 38.86, 38.86])
    ratio = (alpha + age) / (alpha + age + t)
    bracket = 1 - ratio ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + age + t))
    odds = np.where(x > 0, a / (b + x - 1) * ((alpha + age) / (alpha + t_x)) ** (r + x), 0.0)
    direct = (a + b + x - 1) / (a - 1) * bracket / (1 + odds)
    np.testing.assert_allclose(expected_purchases(cdnow_bg, t, x, t_x, age), direct, rtol=1e-9)


def test_purchase_rate_at_horizon_zero_is_alive_probability_times_posterior_rate(cdnow_bg):
    # d/dt E[Y(t)] at t=0 = P(alive) · E[λ | alive] = P(alive) · (r+x)/(alpha+T).
    x = np.array([0.0, 1.0, 4.0, 12.0])
    t_x = np.array([0.0, 5.0, 30.0, 37.0])
    age = np.full(4, 38.86)
    h = 1e-4
    slope = expected_purchases(cdnow_bg, h, x, t_x, age) / h
    rate = probability_alive(cdnow_bg, x, t_x, age) * (cdnow_bg.r + x) / (cdnow_bg.alpha + age)
    np.testing.assert_allclose(slope, rate, rtol=1e-3)


def test_frequent_buyer_who_stopped_long_ago_does_not_overflow(cdnow_bg):
    x = np.array([1000.0, 1000.0, 300.0])
    t_x = np.array([0.5, 38.86, 38.0])
    age = np.full(3, 38.86)
    alive = probability_alive(cdnow_bg, x, t_x, age)
    purchases = expected_purchases(cdnow_bg, 39, x, t_x, age)
    assert np.all(np.isfinite(alive)) and np.all(np.isfinite(purchases))
    assert alive[0] < 1e-100 and purchases[0] < 1e-100
    assert alive[1] > 0.9 and purchases[1] > 500  # still buying ~26/week on the day the window ends
    assert 0 <= alive[2] <= 1 and purchases[2] >= 0


def test_expected_average_spend(cdnow_gg):
    p, q, v = cdnow_gg.p, cdnow_gg.q, cdnow_gg.v
    population_mean = p * v / (q - 1)
    spend = expected_average_spend(cdnow_gg, [0, 0, 1, 2, 10_000], [0.0, 123.0, 50.0, 50.0, 80.0])
    np.testing.assert_allclose(spend[:2], population_mean)
    w1, w2 = p / (p + q - 1), 2 * p / (2 * p + q - 1)
    np.testing.assert_allclose(
        spend[2:4], [w1 * 50 + (1 - w1) * population_mean, w2 * 50 + (1 - w2) * population_mean]
    )
    assert spend[4] == pytest.approx(80.0, rel=1e-3)  # many purchases: the customer's own mean wins
    with pytest.raises(ValueError, match="> 0"):
        expected_average_spend(cdnow_gg, [3], [0.0])
    with pytest.raises(ValueError, match="infinite"):
        expected_average_spend(GammaGammaParams(p=2.0, q=0.9, v=10.0), [1], [5.0])


def test_customer_forecast_combines_both_models(cdnow_bg, cdnow_gg, cdnow_summary):
    summary = cdnow_summary.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})
    summary = summary.set_index("ID").head(50)
    out = customer_forecast(cdnow_bg, cdnow_gg, summary, horizons=(4, 13.5, 39))
    assert out.index.equals(summary.index)
    assert list(out.columns) == [
        "p_alive",
        "expected_spend",
        "expected_purchases_4",
        "expected_revenue_4",
        "expected_purchases_13.5",
        "expected_revenue_13.5",
        "expected_purchases_39",
        "expected_revenue_39",
    ]
    assert np.isfinite(out.to_numpy()).all() and (out.to_numpy() >= 0).all()
    np.testing.assert_allclose(
        out["expected_revenue_39"], out["expected_purchases_39"] * out["expected_spend"]
    )
    assert out.loc[1, "expected_purchases_39"] == pytest.approx(1.226, abs=0.001)


# --------------------------------------------------------------------------------------------------
# Fitting: synthetic recovery, units, validation
# --------------------------------------------------------------------------------------------------


def _simulate_bg_nbd(
    params: BgNbdParams, age: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat purchases and recency of customers observed for ``age`` time units after their first buy."""
    n = age.size
    rate = rng.gamma(params.r, 1.0 / params.alpha, n)
    dropout = rng.beta(params.a, params.b, n)
    now, x, t_x = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        following = now + rng.exponential(1.0 / np.maximum(rate, 1e-300))
        active &= following <= age
        x[active] += 1
        t_x[active] = following[active]
        now = np.where(active, following, now)
        active &= rng.random(n) >= dropout  # may drop out right after each repeat purchase
    return x, t_x


def test_bg_nbd_recovers_simulation_parameters():
    true = BgNbdParams(r=0.8, alpha=6.0, a=1.2, b=4.0)
    rng = np.random.default_rng(20050101)
    age = rng.uniform(30, 80, 20_000)
    x, t_x = _simulate_bg_nbd(true, age, rng)
    fitted = fit_bg_nbd(x, t_x, age)
    _assert_close_to_published(fitted, {"r": true.r, "alpha": true.alpha}, rel=0.10)
    _assert_close_to_published(fitted, {"a": true.a, "b": true.b}, rel=0.20)


def test_gamma_gamma_recovers_simulation_parameters():
    true = GammaGammaParams(p=5.0, q=4.0, v=60.0)
    rng = np.random.default_rng(7)
    x = rng.integers(1, 15, 5_000).astype(float)
    nu = rng.gamma(true.q, 1.0 / true.v, x.size)
    mean_spend = rng.gamma(true.p * x, 1.0 / (nu * x))  # mean of x Gamma(p, nu) draws
    fitted = fit_gamma_gamma(x, mean_spend)
    _assert_close_to_published(fitted, {"p": true.p, "q": true.q, "v": true.v}, rel=0.15)


def test_bg_nbd_alpha_follows_the_time_unit(cdnow_bg, cdnow_summary):
    in_days = fit_bg_nbd(cdnow_summary["x"], cdnow_summary["t_x"] * 7, cdnow_summary["T"] * 7)
    assert in_days.alpha == pytest.approx(cdnow_bg.alpha * 7, rel=1e-4)
    for name in ("r", "a", "b"):
        assert getattr(in_days, name) == pytest.approx(getattr(cdnow_bg, name), rel=1e-4)


def test_penalizer_shrinks_parameters(cdnow_bg, cdnow_summary):
    shrunk = fit_bg_nbd(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"], penalizer=0.01)
    assert shrunk.alpha < cdnow_bg.alpha


@pytest.mark.parametrize(
    ("frequency", "recency", "age", "message"),
    [
        ([1, 2], [5.0, 40.0], [10.0, 30.0], "recency cannot exceed T"),
        ([-1, 2], [0.0, 4.0], [10.0, 30.0], "non-negative"),
        ([1.5, 2], [1.0, 4.0], [10.0, 30.0], "integer"),
        ([1, 2], [1.0, np.nan], [10.0, 30.0], "finite"),
        ([], [], [], "zero customers"),
    ],
)
def test_fit_bg_nbd_rejects_bad_input(frequency, recency, age, message):
    with pytest.raises(ValueError, match=message):
        fit_bg_nbd(frequency, recency, age)


# --------------------------------------------------------------------------------------------------
# RFM summary
# --------------------------------------------------------------------------------------------------


def _tiny_transactions() -> pd.DataFrame:
    rows = [
        ("A", "2024-01-01 09:00", 10.0),
        ("A", "2024-01-01 17:30", 5.0),  # same day: one purchase of 15
        ("A", "2024-01-05 12:00", 20.0),
        ("A", "2024-01-11 08:00", 30.0),
        ("A", "2024-02-01 10:00", 99.0),  # after as_of: ignored
        ("B", "2024-01-20 11:00", 7.0),
        ("C", "2024-01-31 23:59", 4.0),  # on as_of: kept
        (None, "2024-01-02 10:00", 1.0),  # no customer: dropped
    ]
    return pd.DataFrame(rows, columns=["customer_id", "invoice_date", "amount"])


def test_rfm_summary_by_day_gives_hand_computed_values():
    summary = rfm_summary(_tiny_transactions(), "customer_id", "invoice_date", "amount", as_of="2024-01-31")
    expected = pd.DataFrame(
        {
            "frequency": [2.0, 0.0, 0.0],
            "recency": [10.0, 0.0, 0.0],
            "T": [30.0, 11.0, 0.0],
            "monetary_value": [25.0, 0.0, 0.0],  # A: mean of the repeat days (20 and 30), not of day one
        },
        index=pd.Index(["A", "B", "C"], name="customer_id"),
    )
    pd.testing.assert_frame_equal(summary, expected)


def test_rfm_summary_by_week():
    # Mon 2024-01-01 and Fri 01-05 share a week (15 + 20); Thu 01-11 is the next one;
    # Sat 01-20 is in week 2 and Wed 01-31 in week 4.
    summary = rfm_summary(
        _tiny_transactions(), "customer_id", "invoice_date", "amount", "2024-01-31", freq="W"
    )
    assert summary.loc["A"].to_dict() == {"frequency": 1.0, "recency": 1.0, "T": 4.0, "monetary_value": 30.0}
    assert summary.loc["B"].to_dict() == {"frequency": 0.0, "recency": 0.0, "T": 2.0, "monetary_value": 0.0}


# --------------------------------------------------------------------------------------------------
# Pareto/NBD predictions and the probability of at least one purchase
# --------------------------------------------------------------------------------------------------


def test_pareto_nbd_alive_probability_falls_for_a_one_time_buyer_who_stays_away(cdnow_pnbd):
    # Unlike BG/NBD, a customer with no repeat purchase can be gone; the longer the silence the likelier.
    alive = pareto_probability_alive(cdnow_pnbd, [0, 0, 0], [0, 0, 0], [1.0, 20.0, 80.0])
    assert 0.9 < alive[0] <= 1 and alive[0] > alive[1] > alive[2] > 0
    assert alive[2] < 0.5


def test_pareto_nbd_expected_purchases_is_the_integral_of_the_purchase_rate(cdnow_pnbd):
    # d/dt E[Y(t)] at t=0 = P(alive) · E[λ | alive] = P(alive) · (r+x)/(alpha+T).
    x, t_x, age = np.array([0.0, 2.0, 7.0]), np.array([0.0, 30.43, 20.0]), np.full(3, 38.86)
    h = 1e-4
    slope = pareto_expected_purchases(cdnow_pnbd, h, x, t_x, age) / h
    rate = pareto_probability_alive(cdnow_pnbd, x, t_x, age) * (cdnow_pnbd.r + x) / (cdnow_pnbd.alpha + age)
    np.testing.assert_allclose(slope, rate, rtol=1e-3)
    longer = pareto_expected_purchases(cdnow_pnbd, [13, 39, 78], 2, 30.43, 38.86)
    assert np.all(np.diff(longer) > 0)


def _monte_carlo_purchase_probability(model: str, params, x, t_x, age, t, rng, n=400_000) -> float:
    """P(buy in the next t) by drawing the customer's alive state and rates from the posterior."""
    if model == "bg_nbd":
        alive = probability_alive(params, x, t_x, age)
        lam = rng.gamma(params.r + x, 1.0 / (params.alpha + age), n)
        buys = rng.exponential(1.0 / lam) < t  # dropout only after a purchase: the first one always counts
    else:
        alive = pareto_probability_alive(params, x, t_x, age)
        lam = rng.gamma(params.r + x, 1.0 / (params.alpha + age), n)
        mu = rng.gamma(params.s, 1.0 / (params.beta + age), n)
        buys = rng.exponential(1.0 / lam) < np.minimum(rng.exponential(1.0 / mu), t)
    return float(alive * buys.mean())


@pytest.mark.parametrize(
    "customer", [(0, 0.0, 38.86), (2, 30.43, 38.86), (12, 10.0, 38.86), (40, 38.0, 38.86)]
)
@pytest.mark.parametrize("t", [1.0, 13.0, 52.0])
def test_probability_of_purchase_matches_monte_carlo(cdnow_bg, cdnow_pnbd, customer, t):
    rng = np.random.default_rng(13)
    x, t_x, age = customer
    closed = probability_of_purchase(cdnow_bg, t, x, t_x, age)
    assert closed == pytest.approx(
        _monte_carlo_purchase_probability("bg_nbd", cdnow_bg, *customer, t, rng), abs=0.004
    )
    quad = pareto_probability_of_purchase(cdnow_pnbd, t, x, t_x, age)
    assert quad == pytest.approx(
        _monte_carlo_purchase_probability("pareto_nbd", cdnow_pnbd, *customer, t, rng), abs=0.004
    )


def test_probability_of_purchase_is_bounded_monotone_and_stable(cdnow_bg, cdnow_pnbd, cdnow_summary):
    x, t_x, age = cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"]
    for prob, params in ((probability_of_purchase, cdnow_bg), (pareto_probability_of_purchase, cdnow_pnbd)):
        curves = np.array([prob(params, h, x, t_x, age) for h in (0, 4, 13, 39, 520)])
        assert np.all(np.isfinite(curves)) and np.all((curves >= 0) & (curves <= 1))
        np.testing.assert_array_equal(curves[0], 0.0)
        assert np.all(np.diff(curves, axis=0) >= 0)
        # frequent buyers: one who stopped long ago and one buying until the end
        extreme = prob(params, 4, [1000.0, 1000.0], [0.5, 38.86], [38.86, 38.86])
        assert np.all(np.isfinite(extreme)) and extreme[0] < 1e-6 and extreme[1] > 0.99


def _simulate_pareto_nbd(params: ParetoNbdParams, age: np.ndarray, rng, horizon: float):
    """Calibration period of length ``age`` after the first purchase, then whether the customer buys
    in the ``horizon`` after it."""
    n = age.size
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    death = rng.exponential(1.0 / rng.gamma(params.s, 1.0 / params.beta, n))
    x, t_x = np.zeros(n), np.zeros(n)
    now = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        now = now + rng.exponential(1.0 / lam)
        active &= now <= np.minimum(age, death)
        x[active] += 1
        t_x[active] = now[active]
    # memoryless purchases: the next one after age
    following = age + rng.exponential(1.0 / lam)
    bought = (following <= age + horizon) & (following <= death)
    return x, t_x, bought.astype(float)


def test_pareto_nbd_is_calibrated_on_a_simulated_population_with_known_parameters():
    from insiders.calibration import brier_skill, calibration_by_decile

    true = ParetoNbdParams(r=0.6, alpha=8.0, s=0.5, beta=15.0)
    rng = np.random.default_rng(1987)
    age = rng.uniform(20, 60, 20_000)
    x, t_x, bought = _simulate_pareto_nbd(true, age, rng, horizon=26.0)
    fitted = fit_pareto_nbd(x, t_x, age)
    _assert_close_to_published(
        fitted, {"r": true.r, "alpha": true.alpha, "s": true.s, "beta": true.beta}, rel=0.25
    )
    predicted = pareto_probability_of_purchase(fitted, 26.0, x, t_x, age)
    table = calibration_by_decile(predicted, bought)
    assert table["gap"].abs().max() < 0.03  # each decile of 2,000: sampling noise ~ 0.011
    assert brier_skill(predicted, bought) > 0.2
    # the same rates with no dropout (what BG/NBD or Pareto/NBD find on the shop's data) would fail it
    no_dropout = ParetoNbdParams(r=fitted.r, alpha=fitted.alpha, s=1e-6, beta=fitted.beta)
    gaps = calibration_by_decile(pareto_probability_of_purchase(no_dropout, 26.0, x, t_x, age), bought)["gap"]
    assert gaps.abs().max() > 0.1


def test_fit_pareto_nbd_rejects_bad_input():
    with pytest.raises(ValueError, match="recency cannot exceed T"):
        fit_pareto_nbd([1, 2], [5.0, 40.0], [10.0, 30.0])
    with pytest.raises(ValueError, match="zero customers"):
        fit_pareto_nbd([], [], [])


# --------------------------------------------------------------------------------------------------
# Fits at scale: distinct rows with counts, a seeded sample, the quadrature in chunks
# --------------------------------------------------------------------------------------------------


def test_fit_rows_keeps_the_customers_up_to_the_limit(cdnow_summary):
    x, t_x, age = cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"]
    fx, ft, fa, weights = fit_rows(x, t_x, age, max_rows=len(x))
    assert weights is None
    assert np.array_equal(fx, x) and np.array_equal(ft, t_x) and np.array_equal(fa, age)


def test_distinct_rows_with_counts_give_the_fit_of_the_customers(cdnow_summary, cdnow_bg, cdnow_pnbd):
    """The CDNOW customers repeated 3 times (7,071 rows, 1,385 distinct): above the limit, the fit runs on
    the distinct rows with their counts and finds the customers' own maximum (the same likelihood)."""
    x, t_x, age = (np.tile(cdnow_summary[c].to_numpy(dtype=float), 3) for c in ("x", "t_x", "T"))
    fx, ft, fa, weights = fit_rows(x, t_x, age, max_rows=5_000)
    assert weights is not None and weights.sum() == x.size and len(fx) < 5_000
    bg = fit_bg_nbd(fx, ft, fa, weights=weights)
    pnbd = fit_pareto_nbd(fx, ft, fa, weights=weights)
    for fitted, full in ((bg, cdnow_bg), (pnbd, cdnow_pnbd)):
        for name in fitted.__dataclass_fields__:
            assert getattr(fitted, name) == pytest.approx(getattr(full, name), rel=1e-3), name


def test_a_seeded_sample_above_the_limit_fits_close_to_all_customers():
    """Distinct rows above the limit: a seeded sample of the limit's size, the same on every call; its
    estimate is within a few sampling errors of the fit on every customer (relative error ~ 1/sqrt(n))."""
    rng = np.random.default_rng(7)
    n = 40_000
    age = rng.uniform(30, 365, n).round(3)  # continuous ages: nearly every row distinct
    lam = rng.gamma(0.8, 1 / 20.0, n)
    p_drop = rng.beta(1.0, 6.0, n)
    x = np.minimum(rng.poisson(lam * age), rng.geometric(p_drop) - 1).astype(float)
    t_x = np.where(x > 0, age * rng.beta(x + 1, 1.0), 0.0).round(3)
    first = fit_rows(x, t_x, age, max_rows=10_000)
    again = fit_rows(x, t_x, age, max_rows=10_000)
    assert first[3] is not None and first[3].sum() == 10_000
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    sampled = fit_bg_nbd(*first[:3], weights=first[3])
    full = fit_bg_nbd(x, t_x, age)
    assert sampled.r == pytest.approx(full.r, rel=0.1)
    assert sampled.alpha == pytest.approx(full.alpha, rel=0.1)


def test_fit_rejects_bad_weights(cdnow_summary):
    x, t_x, age = cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"]
    with pytest.raises(ValueError, match="weights"):
        fit_bg_nbd(x, t_x, age, weights=np.zeros(len(x)))
    with pytest.raises(ValueError, match="weights"):
        fit_pareto_nbd(x, t_x, age, weights=np.ones(3))


def test_pareto_probability_of_purchase_in_chunks_is_the_same(cdnow_pnbd, cdnow_summary, monkeypatch):
    import insiders.forecast as forecast

    x, t_x, age = cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"]
    whole = pareto_probability_of_purchase(cdnow_pnbd, 30.0, x, t_x, age)
    monkeypatch.setattr(forecast, "_QUADRATURE_ROWS", 100)
    chunked = pareto_probability_of_purchase(cdnow_pnbd, 30.0, x, t_x, age)
    assert chunked.shape == whole.shape
    np.testing.assert_allclose(chunked, whole, rtol=1e-13, atol=0)
