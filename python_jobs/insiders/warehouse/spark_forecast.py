"""The forecast on Spark: ``forecast_job.run_forecast`` with its reads and writes through
``SparkWarehouse`` and the same fitting (``fit_forecast``, ``revenue_intervals``: pure functions).
The run's ``ml.forecast_fits`` row is written last (its commit marker); the per-customer rows, model
scores, calibration and intervals first, in partition ``run_id`` of their tables. Only per-customer
rows come to the driver: the purchase days are summed per customer and day by Spark."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime

import pandas as pd

from insiders.errors import UserError
from insiders.warehouse.spark_schema import ensure_tables

log = logging.getLogger(__name__)


def read_lifetime_inputs(wh, schema: str) -> pd.DataFrame:
    from insiders.forecast_job import INPUT_COLUMNS

    try:
        frame = wh.read_frame(
            f"select {', '.join(INPUT_COLUMNS)} from {schema}.customer_features order by customer_id"
        )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot read the forecast inputs from {schema}.customer_features: {first}") from None
    if frame.empty:
        raise UserError(f"{schema}.customer_features is empty: nothing to forecast")
    return frame


def read_purchase_days(wh, as_of_date) -> pd.DataFrame | None:
    from insiders.forecast_job import PURCHASE_LINES

    if not wh.spark.catalog.tableExists(PURCHASE_LINES):
        return None
    frame = wh.read_frame(
        f"""select customer_id, cast(invoiced_at as date) as purchase_date,
                   cast(sum(revenue) as double) as revenue
            from {PURCHASE_LINES}
            where not is_guest and invoiced_at < cast(:as_of as date)
            group by 1, 2""",
        {"as_of": str(as_of_date)},
    )
    frame["purchase_date"] = pd.to_datetime(frame["purchase_date"])
    return frame


def read_segment_ids(wh, run_id: str | None) -> pd.Series | None:
    """As on Postgres (``forecast_job.read_segment_ids``): customer_id → segment id of the run; dbt
    names the segments and joins the names to the intervals by this id."""
    if run_id is None or not wh.spark.catalog.tableExists("ml.customer_segments"):
        return None
    rows = wh.read_run_table("ml.customer_segments", run_id=run_id)
    if rows.empty:
        return None
    return pd.Series(dict(zip(rows["customer_id"], rows["segment_id"], strict=True)), dtype=object)


def forecast_tables(run_id: str, purpose: str, forecast) -> tuple[dict, dict[str, pd.DataFrame]]:
    """(the ml.forecast_fits row, the other tables' rows) of a forecast: what write_forecast inserts."""
    bg, gg, pnbd, check = forecast.bg, forecast.gg, forecast.pnbd, forecast.holdout
    revenue = check.revenue if check else None
    row = {
        "run_id": run_id, "purpose": purpose, "as_of_date": forecast.as_of_date,
        "fitted_at": datetime.now(UTC), "n_customers": len(forecast.customers),
        "n_repeat_customers": forecast.n_repeat_customers,
        "bg_r": bg.r, "bg_alpha": bg.alpha, "bg_a": bg.a, "bg_b": bg.b,
        "gg_p": gg.p, "gg_q": gg.q, "gg_v": gg.v,
        "time_unit": "day", "fit": "fitted", "model_run_id": None,  # Spark always refits (docs/spark.md)
        "purchase_model": forecast.purchase_model, "alive_model": forecast.alive_model,
        **dict(zip(("pnbd_r", "pnbd_alpha", "pnbd_s", "pnbd_beta"),
                   (pnbd.r, pnbd.alpha, pnbd.s, pnbd.beta) if pnbd else (None,) * 4, strict=True)),
        "holdout_cutoff": check.cutoff if check else None,
        "holdout_days": check.horizon_days if check else None,
        **dict(zip(("holdout_predicted_revenue", "holdout_revenue_low", "holdout_revenue_high"),
                   (revenue.predicted, revenue.low, revenue.high) if revenue else (None,) * 3, strict=True)),
        "holdout_actual_revenue": check.actual_revenue if revenue else None,
    }  # fmt: skip
    tables = {"ml.customer_forecasts": forecast.customers}
    if check is not None:
        tables["ml.forecast_model_scores"] = check.scores
        tables["ml.forecast_calibration"] = check.calibration
    if forecast.intervals is not None:
        tables["ml.forecast_revenue_intervals"] = forecast.intervals
    return row, tables


def run_forecast(wh, *, features_schema: str, run_id: str, purpose: str = "cycle"):
    """``forecast_job.run_forecast`` on Spark (module doc)."""
    from insiders import forecast_job as fj

    ensure_tables(wh.spark, "ml")
    frame = read_lifetime_inputs(wh, features_schema)
    days = read_purchase_days(wh, frame["as_of_date"].iloc[0])
    if days is None:
        log.warning("forecast %s: no %s, so no holdout to choose the model on", run_id, fj.PURCHASE_LINES)
    forecast = fj.fit_forecast(frame, days=days)
    if fj.INTERVAL_DAYS in fj.HORIZONS:
        intervals = fj.revenue_intervals(forecast, frame, read_segment_ids(wh, run_id), days)
        forecast = dataclasses.replace(forecast, intervals=intervals)
    row, tables = forecast_tables(run_id, purpose, forecast)
    wh.write_ml_run(row, tables, "ml.forecast_fits")
    log.info("forecast %s (spark): %d customers, revenue next 90 days %.0f",
             run_id, len(frame), forecast.total("expected_revenue_90d"))  # fmt: skip
    return forecast
