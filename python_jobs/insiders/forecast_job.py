"""Revenue forecast per customer: BG/NBD (how many purchase days) × Gamma-Gamma (spend per day).

Reads the lifetime columns of ``<schema>.customer_features`` (time unit: days, as of the mart's
``as_of_date``), fits both models with :mod:`insiders.forecast` and writes the parameters and one
row per customer to ``ml.forecast_fits`` / ``ml.customer_forecasts`` in one transaction.

- frequency = ``repeat_purchase_days`` (distinct purchase days after the first)
- recency   = ``active_span_days`` (last − first purchase day)
- T         = ``customer_age_days`` (as_of_date − first purchase day)
- monetary  = ``avg_repeat_day_revenue`` (mean revenue of the repeat purchase days)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
from psycopg2 import sql
from psycopg2.extras import execute_values

from insiders.errors import UserError
from insiders.forecast import BgNbdParams, GammaGammaParams, customer_forecast, fit_bg_nbd, fit_gamma_gamma

log = logging.getLogger(__name__)

HORIZONS = (30, 90, 180)
INPUT_COLUMNS = (
    "customer_id", "as_of_date", "repeat_purchase_days", "active_span_days", "customer_age_days",
    "avg_repeat_day_revenue",
)  # fmt: skip


@dataclass(frozen=True)
class Forecast:
    as_of_date: object
    bg: BgNbdParams
    gg: GammaGammaParams
    customers: pd.DataFrame  # customer_id + probability_alive, expected_* columns
    n_repeat_customers: int

    def total(self, column: str) -> float:
        return float(self.customers[column].sum())


def ensure_forecast_schema(conn) -> None:
    ddl = resources.files("insiders").joinpath("sql/ml_forecast_schema.sql").read_text()
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('insiders.ml_forecast_schema'))")
        cur.execute(ddl)
    conn.commit()


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


def fit_forecast(frame: pd.DataFrame, horizons=HORIZONS) -> Forecast:
    summary = pd.DataFrame(
        {
            "frequency": frame["repeat_purchase_days"].astype(float).to_numpy(),
            "recency": frame["active_span_days"].astype(float).to_numpy(),
            "T": frame["customer_age_days"].astype(float).to_numpy(),
            "monetary_value": frame["avg_repeat_day_revenue"].astype(float).fillna(0.0).to_numpy(),
        }
    )
    bg = fit_bg_nbd(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary["frequency"] > 0
    gg = fit_gamma_gamma(summary.loc[repeat, "frequency"], summary.loc[repeat, "monetary_value"])
    predicted = customer_forecast(bg, gg, summary, horizons=horizons)
    out = pd.DataFrame({"customer_id": frame["customer_id"].to_numpy()})
    out["probability_alive"] = predicted["p_alive"].to_numpy()
    out["expected_order_value"] = predicted["expected_spend"].to_numpy()
    for h in horizons:
        out[f"expected_purchases_{h}d"] = predicted[f"expected_purchases_{h}"].to_numpy()
        out[f"expected_revenue_{h}d"] = predicted[f"expected_revenue_{h}"].to_numpy()
    if not np.isfinite(out.drop(columns="customer_id").to_numpy(dtype=float)).all():
        raise RuntimeError("the forecast produced non-finite values")
    return Forecast(frame["as_of_date"].iloc[0], bg, gg, out, int(repeat.sum()))


def write_forecast(conn, run_id: str, purpose: str, forecast: Forecast) -> None:
    """Parameters and per-customer rows, in the caller's transaction (the caller commits)."""
    bg, gg = forecast.bg, forecast.gg
    with conn.cursor() as cur:
        cur.execute("delete from ml.forecast_fits where run_id = %s", (run_id,))
        cur.execute(
            """insert into ml.forecast_fits (run_id, purpose, as_of_date, n_customers, n_repeat_customers,
                   bg_r, bg_alpha, bg_a, bg_b, gg_p, gg_q, gg_v)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                run_id, purpose, forecast.as_of_date, len(forecast.customers), forecast.n_repeat_customers,
                bg.r, bg.alpha, bg.a, bg.b, gg.p, gg.q, gg.v,
            ),
        )  # fmt: skip
        columns = list(forecast.customers.columns)
        rows = [(run_id, *r) for r in forecast.customers.astype(object).itertuples(index=False)]
        execute_values(
            cur,
            f"insert into ml.customer_forecasts (run_id, {', '.join(columns)}) values %s",
            rows,
            page_size=5000,
        )


def run_forecast(conn, *, features_schema: str, run_id: str, purpose: str = "cycle") -> Forecast:
    """Fit on ``<features_schema>.customer_features``; store it as the forecast of run ``run_id``."""
    ensure_forecast_schema(conn)
    frame = read_lifetime_inputs(conn, features_schema)
    forecast = fit_forecast(frame)
    try:
        write_forecast(conn, run_id, purpose, forecast)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    log.info(
        "forecast %s: %d customers, revenue next 90 days %.0f (BG/NBD r=%.3f alpha=%.2f a=%.3f b=%.3f)",
        run_id, len(frame), forecast.total("expected_revenue_90d"), forecast.bg.r, forecast.bg.alpha,
        forecast.bg.a, forecast.bg.b,
    )  # fmt: skip
    return forecast
