"""The backtest on Spark: ``backtest.run_backtest`` with its reads and writes through ``SparkWarehouse``
and the same pure functions (``backtest_frame``, ``compute_backtest``: the forecast fitted at the
cutoff, its interval, the per-customer rows, the forecast validation; ``backtest_row``).

Reads: dbt's ``backtest.customer_features`` (the features as of the cutoff), the cutoff and horizon
(``intermediate.int_reference_dates``), the horizon's purchases
(``intermediate.int_backtest_future_purchases``) and the labels of the backtest's own segmentation run
(purpose ``backtest``, run row last as every run).
Writes: ``ml.backtest_customer_predictions`` and ``ml.forecast_validation`` in partition ``backtest_id``,
then the ``ml.backtests`` row last (the commit marker). The groups, shares, interval and verdict are
dbt's, from those rows (as on Postgres: ``ml.backtest_groups`` is not written)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pandas as pd

from insiders.errors import UserError
from insiders.warehouse.spark_schema import ensure_tables

log = logging.getLogger(__name__)

RUN_TABLE = "ml.backtests"


def cutoff_features_summary(wh) -> tuple[object, int]:
    """(cutoff, customers) of the backtest features dbt built last; (None, 0) before any."""
    from insiders.backtest import BACKTEST_SCHEMA

    if not wh.spark.catalog.tableExists(f"{BACKTEST_SCHEMA}.customer_features"):
        return None, 0
    row = wh.read_frame(
        f"select min(as_of_date) as cutoff, count(*) as n from {BACKTEST_SCHEMA}.customer_features"
    ).iloc[0]
    return (None if pd.isna(row["cutoff"]) else row["cutoff"]), int(row["n"])


def backtest_horizon(wh) -> tuple[object, int]:
    """(cutoff, horizon in days) as dbt decided them (int_reference_dates)."""
    frame = wh.read_frame(
        """select reference_date, horizon_end_date from intermediate.int_reference_dates
           where reference_name = 'backtest_cutoff'"""
    )
    [(cutoff, end)] = frame.itertuples(index=False)
    return cutoff, (end - cutoff).days


def read_backtest_frame(wh, run_id: str) -> pd.DataFrame:
    """``backtest.read_backtest_frame`` on Spark: one row per customer known at the cutoff."""
    from insiders.backtest import BACKTEST_SCHEMA, FUTURE_PURCHASES, backtest_frame

    features = wh.read_frame(
        f"""select customer_id, cast(gross_revenue as double) as gross_revenue, rfm_score, r_score,
                   f_score, m_score
            from {BACKTEST_SCHEMA}.customer_features"""
    )
    labels = wh.read_frame(
        """select cs.customer_id, s.archetype as segment_name, s.is_insider
           from ml.customer_segments cs
           join ml.segments s on s.run_id = cs.run_id and s.segment_id = cs.segment_id
           where cs.run_id = :run_id""",
        {"run_id": run_id},
    )
    future = wh.read_frame(
        f"""select customer_id, cast(future_net_revenue as double) as future_revenue, future_purchase_days
            from {FUTURE_PURCHASES}"""
    )
    return backtest_frame(features, labels, future)


def write_backtest(wh, result, cycle_run_id) -> None:
    """The backtest's rows, its ml.backtests row last (SparkWarehouse.write_ml_run)."""
    from insiders.backtest import backtest_row

    row = {**backtest_row(result, cycle_run_id), "created_at": datetime.now(UTC)}
    tables = {
        "ml.backtest_customer_predictions": result.customers,
        "ml.forecast_validation": result.validation,
    }
    wh.write_ml_run(row, tables, RUN_TABLE)


def run_backtest(wh, settings, *, seed: int = 42, cycle_run_id=None):
    """``backtest.run_backtest`` on Spark (module doc); the same BacktestResult (no ``url``: its summary
    points at marts.backtest_results)."""
    from insiders.backtest import BACKTEST_SCHEMA, compute_backtest
    from insiders.warehouse import spark_forecast, spark_ml

    cutoff, _ = cutoff_features_summary(wh)
    if cutoff is None:
        raise UserError("no backtest features: run `insiders run` first")
    cutoff, horizon_days = backtest_horizon(wh)
    segmentation = spark_ml.run_segmentation(
        wh, settings, features_schema=BACKTEST_SCHEMA, seed=seed, purpose="backtest"
    )
    ensure_tables(wh.spark, "ml")
    frame = read_backtest_frame(wh, segmentation.run_id)
    lifetime = spark_forecast.read_lifetime_inputs(wh, BACKTEST_SCHEMA)
    result = compute_backtest(frame, lifetime, segmentation.run_id, cutoff, horizon_days)
    write_backtest(wh, result, cycle_run_id)
    log.info(
        "backtest %s (spark): cutoff %s, %d customers, %d Insiders; groups and verdict follow in dbt",
        result.backtest_id, result.cutoff, result.customers_at_cutoff, result.group_size,
    )  # fmt: skip
    return result
