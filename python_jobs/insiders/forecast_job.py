"""Revenue forecast per customer: BG/NBD (how many purchase days) × Gamma-Gamma (spend per day).

Reads the lifetime columns of ``<schema>.customer_features`` (time unit: days, as of the mart's
``as_of_date``), fits both models with :mod:`insiders.forecast` and writes the parameters and one
row per customer to ``ml.forecast_fits`` / ``ml.customer_forecasts`` in one transaction.

- frequency = ``repeat_purchase_days`` (distinct purchase days after the first)
- recency   = ``active_span_days`` (last − first purchase day)
- T         = ``customer_age_days`` (as_of_date − first purchase day)
- monetary  = ``avg_repeat_day_revenue`` (mean revenue of the repeat purchase days)

Purchase probabilities (P(at least one purchase in the next 30/90/180 days)) come from the model that
scores best on a holdout, chosen again each cycle (:mod:`insiders.holdout`): the purchase days of
``intermediate.int_purchase_lines`` give the customers' history at ``as_of_date - 90`` and who bought in
the 90 days after it; BG/NBD, Pareto/NBD and a logistic model on recency/frequency/age (trained on the
window before) are scored there by Brier score, and the per-decile calibration is written to
``ml.forecast_calibration``. ``probability_alive`` and the expected purchases come from the better of the
two parametric models on that holdout.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from psycopg2 import sql
from psycopg2.extras import execute_values

from insiders import holdout
from insiders.errors import UserError
from insiders.forecast import (
    BgNbdParams,
    GammaGammaParams,
    ParetoNbdParams,
    customer_forecast,
    fit_bg_nbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    fit_rows,
    pareto_expected_purchases,
    pareto_probability_alive,
    pareto_probability_of_purchase,
    probability_of_purchase,
)
from insiders.schema import ensure_schema

log = logging.getLogger(__name__)

HORIZONS = (30, 90, 180)
# The BG/NBD and Pareto/NBD likelihoods are fitted on at most this many rows (forecast.fit_rows: all
# customers up to it; above, their distinct inputs with counts, or a seeded sample of this many
# customers); everyone is predicted. 50,000: the shared file (4,338) and 10x (43,340) fit on every
# customer as before; 100x (433,400) fits at the cost of 10x.
FIT_MAX_CUSTOMERS = 50_000
INTERVAL_DAYS = 90
NO_SEGMENT = "(no segment)"  # customers the run did not segment
PURCHASE_LINES = "intermediate.int_purchase_lines"  # built by dbt; the purchase-line rule lives there
INPUT_COLUMNS = (
    "customer_id", "as_of_date", "repeat_purchase_days", "active_span_days", "customer_age_days",
    "avg_repeat_day_revenue",
)  # fmt: skip


@dataclass(frozen=True)
class Forecast:
    as_of_date: object
    bg: BgNbdParams
    gg: GammaGammaParams
    customers: pd.DataFrame  # customer_id + probability_alive, expected_*, probability_purchase_* columns
    n_repeat_customers: int
    pnbd: ParetoNbdParams | None = None
    purchase_model: str = "bg_nbd"  # gives probability_purchase_*
    alive_model: str = "bg_nbd"  # gives probability_alive and expected_purchases_*
    holdout: holdout.HoldoutResult | None = None
    intervals: pd.DataFrame | None = None  # revenue of the next INTERVAL_DAYS with its interval
    # P(buy in INTERVAL_DAYS) of alive_model, the model of expected_purchases_*: the revenue simulation
    # draws purchases from one model
    alive_model_probability: np.ndarray | None = None

    def total(self, column: str) -> float:
        return float(self.customers[column].sum())


def ensure_forecast_schema(conn) -> None:
    ensure_schema(conn, "ml_forecast_schema.sql")


def read_lifetime_inputs(conn, schema: str) -> pd.DataFrame:
    query = sql.SQL("select {} from {}.customer_features order by customer_id").format(
        sql.SQL(", ").join(map(sql.Identifier, INPUT_COLUMNS)), sql.Identifier(schema)
    )
    with conn.cursor() as cur:
        try:
            cur.execute(query)
        except Exception as exc:
            conn.rollback()
            raise UserError(
                f"cannot read the forecast inputs from {schema}.customer_features: {exc}"
            ) from None
        frame = pd.DataFrame(cur.fetchall(), columns=INPUT_COLUMNS)
    conn.commit()
    if frame.empty:
        raise UserError(f"{schema}.customer_features is empty: nothing to forecast")
    return frame


def read_purchase_days(conn, as_of_date) -> pd.DataFrame | None:
    """Revenue per customer and purchase day before ``as_of_date`` (None when dbt has not built the
    purchase lines: the forecast then has no holdout)."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null", (PURCHASE_LINES,))
        if not cur.fetchone()[0]:
            conn.commit()
            return None
        query = cur.mogrify(
            f"""select customer_id, cast(invoiced_at as date) as purchase_date,
                       cast(sum(revenue) as double precision) as revenue
                from {PURCHASE_LINES}
                where not is_guest and invoiced_at < %s
                group by 1, 2""",
            (as_of_date,),
        ).decode()
        # COPY as CSV rather than fetchall: a tuple of three objects per customer-day doubled the
        # step's memory (1.9 M rows at 100x: +625 MB fetched, +255 MB copied; issue 11's RSS goal)
        buffer = io.BytesIO()
        cur.copy_expert(f"copy ({query}) to stdout with (format csv)", buffer)
    conn.commit()
    if not buffer.getbuffer().nbytes:  # no purchases before as_of_date (read_csv refuses an empty text)
        return pd.DataFrame({"customer_id": pd.Series(dtype=object), "revenue": pd.Series(dtype=float),
                             "purchase_date": pd.Series(dtype="datetime64[ns]")})  # fmt: skip
    buffer.seek(0)
    frame = pd.read_csv(buffer, names=["customer_id", "purchase_date", "revenue"],
                        dtype={"customer_id": str, "revenue": float}, keep_default_na=False)  # fmt: skip
    frame["purchase_date"] = pd.to_datetime(frame["purchase_date"])
    return frame


def _purchase_probabilities(
    chosen: str, summary: pd.DataFrame, fits: dict, days: pd.DataFrame | None, as_of, horizons
) -> tuple[str, dict[int, np.ndarray]]:
    """P(at least one purchase in h days) per horizon from the chosen model; a logistic model that
    cannot be trained for a horizon (history shorter than two horizons) falls back to the parametric one."""
    x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
    parametric = {
        "bg_nbd": lambda h: probability_of_purchase(fits["bg_nbd"], h, x, t_x, age),
        "pareto_nbd": lambda h: pareto_probability_of_purchase(fits["pareto_nbd"], h, x, t_x, age),
    }
    out: dict[int, np.ndarray] = {}
    used = chosen
    for h in horizons:
        predictor = holdout.train_logistic(days, as_of, h) if chosen == "logistic" else None
        if predictor is not None:
            out[h] = predictor(summary)
        else:
            used = chosen if chosen in parametric else fits["fallback"]
            out[h] = parametric[used](h)
    return used, out


def read_segment_ids(conn, run_id: str | None) -> pd.Series | None:
    """customer_id → segment id of the run (None when the run has no segments in ml). dbt names the
    segments (int_segments_named) and joins the names to the intervals by this id."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('ml.customer_segments') is not null")
        if run_id is None or not cur.fetchone()[0]:
            conn.commit()
            return None
        cur.execute("select customer_id, segment_id from ml.customer_segments where run_id = %s", (run_id,))
        rows = cur.fetchall()
    conn.commit()
    return pd.Series(dict(rows), dtype=object) if rows else None


def segment_key(segment_id) -> str:
    """The interval row's key for a segment (its display name comes from dbt)."""
    return f"segment {int(segment_id)}"


def revenue_intervals(forecast: Forecast, frame: pd.DataFrame, segments: pd.Series | None,
                      days: pd.DataFrame | None) -> pd.DataFrame:  # fmt: skip
    """Revenue of the next INTERVAL_DAYS per segment and in total, with a 95% simulated interval."""
    customers = forecast.customers
    groups = None
    if segments is not None:
        ids = customers["customer_id"].map(segments)
        groups = ids.map(lambda i: NO_SEGMENT if pd.isna(i) else segment_key(i)).to_numpy(dtype=object)
    purchases = customers[f"expected_purchases_{INTERVAL_DAYS}d"].to_numpy()
    sims = holdout.simulate_revenue(
        forecast.alive_model_probability,
        purchases,
        frame["repeat_purchase_days"].astype(float).to_numpy(),
        frame["avg_repeat_day_revenue"].astype(float).fillna(0.0).to_numpy(),
        forecast.gg,
        groups=groups,
    )
    labels = groups if groups is not None else np.full(len(customers), holdout.ALL_CUSTOMERS, dtype=object)
    predicted = pd.Series(customers[f"expected_revenue_{INTERVAL_DAYS}d"].to_numpy()).groupby(labels).sum()
    predicted[holdout.ALL_CUSTOMERS] = customers[f"expected_revenue_{INTERVAL_DAYS}d"].sum()
    counts = pd.Series(labels).value_counts()
    counts[holdout.ALL_CUSTOMERS] = len(customers)
    as_of = pd.Timestamp(forecast.as_of_date).date()
    last_year = holdout.same_period_last_year(days, as_of, INTERVAL_DAYS) if days is not None else None
    history_days = int(frame["customer_age_days"].astype(float).max())  # first purchase day to as_of
    rows = []
    ids = {segment_key(i): int(i) for i in segments.unique()} if segments is not None else {}
    for name in sims.columns:
        interval = holdout.revenue_interval(sims[name].to_numpy(), float(predicted[name]))
        rows.append(
            {
                "segment_name": name, "segment_id": ids.get(name), "horizon_days": INTERVAL_DAYS,
                "customers": int(counts[name]),
                "predicted_revenue": interval.predicted, "revenue_low": interval.low,
                "revenue_high": interval.high, "is_seasonal": False, "history_days": history_days,
                "same_period_last_year_revenue": last_year if name == holdout.ALL_CUSTOMERS else None,
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def lifetime_summary(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frequency": frame["repeat_purchase_days"].astype(float).to_numpy(),
            "recency": frame["active_span_days"].astype(float).to_numpy(),
            "T": frame["customer_age_days"].astype(float).to_numpy(),
            "monetary_value": frame["avg_repeat_day_revenue"].astype(float).fillna(0.0).to_numpy(),
        }
    )


def fit_forecast(
    frame: pd.DataFrame,
    horizons=HORIZONS,
    days: pd.DataFrame | None = None,
    max_fit_customers: int = FIT_MAX_CUSTOMERS,
) -> Forecast:
    """Fit the models on the lifetime columns; with the purchase days (``days``), choose the
    purchase-probability model on the holdout first. Without them, Pareto/NBD gives the probabilities
    (BG/NBD puts every one-time buyer alive for sure). The purchase models are fitted on at most
    ``max_fit_customers`` rows (forecast.fit_rows); the spend model on every repeat customer."""
    summary = lifetime_summary(frame)
    as_of = pd.Timestamp(frame["as_of_date"].iloc[0]).date()
    check = (
        holdout.evaluate_on_holdout(days, as_of, max_fit_customers=max_fit_customers)
        if days is not None and len(days)
        else None
    )
    alive_model = check.best_parametric if check else "pareto_nbd"
    x, t_x, age, weights = fit_rows(summary["frequency"], summary["recency"], summary["T"], max_fit_customers)
    bg = fit_bg_nbd(x, t_x, age, weights=weights)
    pnbd = fit_pareto_nbd(x, t_x, age, weights=weights)
    repeat = summary["frequency"] > 0
    gg = fit_gamma_gamma(summary.loc[repeat, "frequency"], summary.loc[repeat, "monetary_value"])
    chosen = check.chosen if check else alive_model
    return predict_forecast(frame, summary, bg, pnbd, gg, alive_model, chosen, check, days, horizons)


def predict_forecast(frame, summary, bg, pnbd, gg, alive_model, chosen, check, days, horizons) -> Forecast:
    """The per-customer forecast of fitted models (fit_forecast's, or a fitted run's: assign_forecast)."""
    as_of = pd.Timestamp(frame["as_of_date"].iloc[0]).date()
    x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
    repeat = summary["frequency"] > 0
    predicted = customer_forecast(bg, gg, summary, horizons=horizons)
    out = pd.DataFrame({"customer_id": frame["customer_id"].to_numpy()})
    if alive_model == "pareto_nbd":
        out["probability_alive"] = pareto_probability_alive(pnbd, x, t_x, age)
    else:
        out["probability_alive"] = predicted["p_alive"].to_numpy()
    out["expected_order_value"] = predicted["expected_spend"].to_numpy()
    for h in horizons:
        if alive_model == "pareto_nbd":
            purchases = pareto_expected_purchases(pnbd, h, x, t_x, age)
        else:
            purchases = predicted[f"expected_purchases_{h}"].to_numpy()
        out[f"expected_purchases_{h}d"] = purchases
        out[f"expected_revenue_{h}d"] = purchases * predicted["expected_spend"].to_numpy()
    fits = {"bg_nbd": bg, "pareto_nbd": pnbd, "fallback": alive_model}
    purchase_model, probabilities = _purchase_probabilities(chosen, summary, fits, days, as_of, horizons)
    for h in horizons:
        out[f"probability_purchase_{h}d"] = probabilities[h]
    if not np.isfinite(out.drop(columns="customer_id").to_numpy(dtype=float)).all():
        raise RuntimeError("the forecast produced non-finite values")
    own = {"bg_nbd": probability_of_purchase, "pareto_nbd": pareto_probability_of_purchase}[alive_model]
    return Forecast(
        frame["as_of_date"].iloc[0], bg, gg, out, int(repeat.sum()), pnbd, purchase_model, alive_model, check,
        alive_model_probability=own(fits[alive_model], INTERVAL_DAYS, x, t_x, age),
    )  # fmt: skip


def write_forecast(conn, run_id: str, purpose: str, forecast: Forecast) -> None:
    """Parameters, per-customer rows and the holdout's scores, in the caller's transaction (the caller
    commits)."""
    bg, gg, pnbd, check = forecast.bg, forecast.gg, forecast.pnbd, forecast.holdout
    revenue = check.revenue if check else None
    with conn.cursor() as cur:
        cur.execute("delete from ml.forecast_fits where run_id = %s", (run_id,))
        cur.execute(
            """insert into ml.forecast_fits (run_id, purpose, as_of_date, n_customers, n_repeat_customers,
                   bg_r, bg_alpha, bg_a, bg_b, gg_p, gg_q, gg_v, pnbd_r, pnbd_alpha, pnbd_s, pnbd_beta,
                   purchase_model, alive_model, holdout_cutoff, holdout_days, holdout_predicted_revenue,
                   holdout_revenue_low, holdout_revenue_high, holdout_actual_revenue)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                       %s, %s, %s, %s)""",
            (
                run_id, purpose, forecast.as_of_date, len(forecast.customers), forecast.n_repeat_customers,
                bg.r, bg.alpha, bg.a, bg.b, gg.p, gg.q, gg.v,
                *((pnbd.r, pnbd.alpha, pnbd.s, pnbd.beta) if pnbd else (None,) * 4),
                forecast.purchase_model, forecast.alive_model,
                check.cutoff if check else None, check.horizon_days if check else None,
                *((revenue.predicted, revenue.low, revenue.high) if revenue else (None,) * 3),
                check.actual_revenue if revenue else None,
            ),
        )  # fmt: skip
        copy_customer_rows(cur, run_id, forecast.customers)
        tables = []
        if check is not None:
            tables += [("forecast_model_scores", check.scores), ("forecast_calibration", check.calibration)]
        if forecast.intervals is not None:
            tables.append(("forecast_revenue_intervals", forecast.intervals))
        for table, frame in tables:
            columns = list(frame.columns)
            execute_values(
                cur,
                f"insert into ml.{table} (run_id, {', '.join(columns)}) values %s",
                [(run_id, *(_plain(v) for v in r)) for r in frame.itertuples(index=False)],
            )


def copy_customer_rows(cur, run_id: str, customers: pd.DataFrame) -> None:
    """The per-customer rows into ml.customer_forecasts by COPY (CSV; floats written with their shortest
    exact repr, so they read back to the same doubles): 433k rows through execute_values were ~17 s."""
    columns = ["run_id", *customers.columns]
    buffer = io.StringIO()
    customers.assign(run_id=run_id)[columns].to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    cur.copy_expert(f"copy ml.customer_forecasts ({', '.join(columns)}) from stdin with (format csv)", buffer)


def _plain(value):
    """numpy scalars as Python ones (psycopg2 adapts only the latter); NaN (pandas' missing) as null."""
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and np.isnan(value) else value


# ------------------------------------------------------------------ refit or assign (issue 11)
# A cycle whose segmentation assigned customers with the model of an earlier run (refit_reason in
# insiders.cycle) forecasts with that run's fitted forecast too: its parameters, model choice and
# holdout check, applied to today's customers (no optimiser, no holdout fit). Recorded as
# ml.forecast_fits.fit = 'assigned' with model_run_id.


def fitted_forecast(conn, run_id: str) -> dict | None:
    """The fitted forecast of run ``run_id`` (its ml.forecast_fits row, scores and calibration), or None."""
    with conn.cursor() as cur:
        cur.execute(
            """select * from ml.forecast_fits
               where run_id = %s and coalesce(fit, 'fitted') = 'fitted' and pnbd_r is not null""",
            (run_id,),
        )
        row = cur.fetchone()
        fit = dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None
        tables = {}
        for table in ("forecast_model_scores", "forecast_calibration"):
            cur.execute(f"select * from ml.{table} where run_id = %s order by 2, 3", (run_id,))
            columns = [d[0] for d in cur.description]
            tables[table] = pd.DataFrame(cur.fetchall(), columns=columns).drop(columns="run_id")
    conn.commit()
    return None if fit is None else {**fit, **tables}


def assign_forecast(
    frame: pd.DataFrame, fitted: dict, days: pd.DataFrame | None, horizons=HORIZONS
) -> Forecast:
    """The forecast of ``frame``'s customers by the ``fitted`` run's models (fitted_forecast)."""
    bg = BgNbdParams(fitted["bg_r"], fitted["bg_alpha"], fitted["bg_a"], fitted["bg_b"])
    gg = GammaGammaParams(fitted["gg_p"], fitted["gg_q"], fitted["gg_v"])
    pnbd = ParetoNbdParams(fitted["pnbd_r"], fitted["pnbd_alpha"], fitted["pnbd_s"], fitted["pnbd_beta"])
    scores = fitted["forecast_model_scores"]
    check = None
    if fitted["holdout_cutoff"] is not None and len(scores):
        revenue = None
        if fitted["holdout_predicted_revenue"] is not None:
            revenue = holdout.RevenueInterval(
                fitted["holdout_predicted_revenue"],
                fitted["holdout_revenue_low"],
                fitted["holdout_revenue_high"],
            )
        chosen = str(scores.loc[scores["is_chosen"], "model_name"].iloc[0])
        check = holdout.HoldoutResult(
            fitted["holdout_cutoff"], fitted["holdout_days"], scores, fitted["forecast_calibration"],
            chosen, fitted["alive_model"], revenue, fitted["holdout_actual_revenue"],
        )  # fmt: skip
    chosen = check.chosen if check else fitted["alive_model"]
    summary = lifetime_summary(frame)
    return predict_forecast(
        frame, summary, bg, pnbd, gg, fitted["alive_model"], chosen, check, days, horizons
    )


def run_forecast(
    conn, *, features_schema: str, run_id: str, purpose: str = "cycle", model_run_id: str | None = None
) -> Forecast:
    """Fit on ``<features_schema>.customer_features``; store it as the forecast of run ``run_id``.
    With ``model_run_id`` (a cycle that assigned its segmentation with that run's model): the fitted
    forecast of that run applied to today's customers, when there is one; otherwise a new fit."""
    ensure_forecast_schema(conn)
    frame = read_lifetime_inputs(conn, features_schema)
    days = read_purchase_days(conn, frame["as_of_date"].iloc[0])
    if days is None:
        log.warning("forecast %s: no %s, so no holdout to choose the model on", run_id, PURCHASE_LINES)
    fitted = fitted_forecast(conn, model_run_id) if model_run_id else None
    if fitted is not None:
        log.info("forecast %s: assigned with the fitted forecast of run %s", run_id, model_run_id)
        forecast = assign_forecast(frame, fitted, days)
    else:
        forecast = fit_forecast(frame, days=days)
    if INTERVAL_DAYS in HORIZONS:
        intervals = revenue_intervals(forecast, frame, read_segment_ids(conn, run_id), days)
        forecast = dataclasses.replace(forecast, intervals=intervals)
    try:
        write_forecast(conn, run_id, purpose, forecast)
        if fitted is not None:
            with conn.cursor() as cur:
                cur.execute(
                    "update ml.forecast_fits set fit = 'assigned', model_run_id = %s where run_id = %s",
                    (model_run_id, run_id),
                )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    log.info(
        "forecast %s: %d customers, revenue next 90 days %.0f (BG/NBD r=%.3f alpha=%.2f a=%.3f b=%.3f); "
        "purchase probabilities from %s, probability alive from %s",
        run_id, len(frame), forecast.total("expected_revenue_90d"), forecast.bg.r, forecast.bg.alpha,
        forecast.bg.a, forecast.bg.b, forecast.purchase_model, forecast.alive_model,
    )  # fmt: skip
    return forecast
