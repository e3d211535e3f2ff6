"""The backtest on Spark (insiders.warehouse.spark_backtest): on the same inputs (the features as of the
cutoff, dbt's cutoff and horizon, the horizon's purchases) it writes the same ml.backtests,
ml.backtest_customer_predictions and ml.forecast_validation rows as the Postgres backtest, the
ml.backtests row last; a cycle with too few customers at the cutoff skips it."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from psycopg2.extras import execute_values

from insiders.backtest import BACKTEST_SCHEMA, FUTURE_PURCHASES, run_backtest
from insiders.settings import Settings
from insiders.warehouse import spark_backtest
from tests.insiders.segment.synthetic import AS_OF, separated_customers
from tests.insiders.test_forecast_job import _simulate

HORIZON_DAYS = 91
REFERENCE_DATES = "intermediate.int_reference_dates"
SPARK_INPUTS = (f"{BACKTEST_SCHEMA}.customer_features", REFERENCE_DATES, FUTURE_PURCHASES)


def _inputs(n: int = 300) -> dict[str, pd.DataFrame]:
    """What dbt builds for a backtest, made by hand: table name → rows."""
    frame, _ = separated_customers(n)
    frame = frame.drop(columns=["first_purchase_at", "last_purchase_at"])
    lifetime = pd.DataFrame(  # the forecast test's BG/NBD customers: a fit known to converge
        [row[2:] for row in _simulate(np.random.default_rng(7), n)],
        columns=["repeat_purchase_days", "active_span_days", "customer_age_days", "avg_repeat_day_revenue"],
    )
    frame = pd.concat([frame, lifetime.astype({"avg_repeat_day_revenue": float})], axis=1)
    frame["rfm_score"] = frame["r_score"] + frame["f_score"] + frame["m_score"]
    rng = np.random.default_rng(5)
    days = rng.poisson(frame["purchases"].to_numpy() / 4)
    revenue = np.round(days * frame["avg_order_value"].to_numpy() * rng.lognormal(0, 0.3, len(frame)), 2)
    returns = (days == 0) & (rng.random(len(frame)) < 0.05)  # returns only in the horizon: negative net
    future = pd.DataFrame(
        {"customer_id": frame["customer_id"], "future_net_revenue": np.where(returns, -12.5, revenue),
         "future_purchase_days": days}
    )[(days > 0) | returns]  # fmt: skip
    dates = pd.DataFrame(
        {"reference_name": ["features", "backtest_cutoff"],
         "reference_date": [AS_OF + timedelta(days=HORIZON_DAYS), AS_OF],
         "horizon_end_date": [None, AS_OF + timedelta(days=HORIZON_DAYS)]}
    )  # fmt: skip
    return {SPARK_INPUTS[0]: frame, REFERENCE_DATES: dates, FUTURE_PURCHASES: future.reset_index(drop=True)}


def _pg_type(series: pd.Series) -> str:
    if series.name.endswith("_date"):
        return "date"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    return "double precision" if pd.api.types.is_float_dtype(series) else "text"


def _write_postgres(conn, tables: dict[str, pd.DataFrame]) -> None:
    with conn.cursor() as cur:
        for name, frame in tables.items():
            cur.execute(f"create schema if not exists {name.split('.')[0]}")
            cur.execute(f"create table {name} ({', '.join(f'{c} {_pg_type(frame[c])}' for c in frame)})")
            rows = [
                tuple(None if pd.isna(v) else v for v in r)
                for r in frame.astype(object).itertuples(index=False)
            ]
            execute_values(cur, f"insert into {name} ({', '.join(frame.columns)}) values %s", rows)
    conn.commit()


def _drop_spark(spark, names) -> None:
    for name in names:
        if spark.catalog.tableExists(name):
            kind = "view" if spark.catalog.getTable(name).tableType == "VIEW" else "table"
            spark.sql(f"drop {kind} {name}")


def _write_spark(spark, tables: dict[str, pd.DataFrame]) -> None:
    _drop_spark(spark, tables)
    for name, frame in tables.items():
        spark.sql(f"create database if not exists {name.split('.')[0]}")
        spark.createDataFrame(frame).write.format("parquet").saveAsTable(name)


@pytest.fixture
def spark_inputs(spark_warehouse):
    spark = spark_warehouse.spark
    spark.sql("drop database if exists ml cascade")
    yield spark
    _drop_spark(spark, SPARK_INPUTS)  # the suite's dbt builds make these; leave no stand-ins behind
    spark.sql("drop database if exists ml cascade")


def _pg_rows(conn, table: str) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(f"select * from {table}")
        frame = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    conn.rollback()
    return frame


def _comparable(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    drop = [c for c in ("backtest_id", "run_id", "created_at", "cycle_run_id") if c in frame]
    out = frame.drop(columns=drop).sort_values(key, ignore_index=True)
    return out[sorted(out.columns)]


def test_the_backtest_on_spark_writes_the_rows_of_the_one_on_postgres(
    spark_warehouse, spark_inputs, database_url, pg_conn, tmp_path, monkeypatch
):
    tables = _inputs()
    _write_postgres(pg_conn, tables)
    _write_spark(spark_inputs, tables)
    settings = Settings(artifact_dir=tmp_path / "artifacts")

    on_pg = run_backtest(database_url, settings, seed=3, cycle_run_id="cycle-1")
    written: list[str] = []
    real_insert = spark_warehouse.insert_frame

    def recording_insert(table, frame, run_id=None):
        written.append(table)
        return real_insert(table, frame, run_id)

    monkeypatch.setattr(spark_warehouse, "insert_frame", recording_insert)
    on_spark = spark_backtest.run_backtest(spark_warehouse, settings, seed=3, cycle_run_id="cycle-1")
    monkeypatch.undo()

    assert written[-3:] == ["ml.backtest_customer_predictions", "ml.forecast_validation", "ml.backtests"]
    assert (on_spark.cutoff, on_spark.horizon_days) == (on_pg.cutoff, on_pg.horizon_days) == (AS_OF, 91)
    assert (on_spark.customers_at_cutoff, on_spark.group_size) == (
        on_pg.customers_at_cutoff,
        on_pg.group_size,
    )
    assert 0 < on_pg.group_size < on_pg.customers_at_cutoff == 300

    read = spark_warehouse.read_frame
    runs = read("select run_id, purpose from ml.segmentation_runs")
    assert runs.values.tolist() == [[on_spark.run_id, "backtest"]]  # its own segmentation run
    spark_row = read("select * from ml.backtests")
    assert spark_row[["backtest_id", "run_id", "cycle_run_id"]].values.tolist() == [
        [on_spark.backtest_id, on_spark.run_id, "cycle-1"]
    ]
    assert spark_row["created_at"].notna().all()
    for table, key in (
        ("ml.backtests", "horizon_days"),
        ("ml.backtest_customer_predictions", "customer_id"),
        ("ml.forecast_validation", "segment_name"),
    ):
        expected = _comparable(_pg_rows(pg_conn, table), key)
        got = _comparable(
            read(f"select t.* from {table} t left semi join ml.backtests b using (backtest_id)"), key
        )
        assert len(got) == len(expected) > 0, table
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-6, atol=1e-6, obj=table)


def test_a_spark_cycle_skips_the_backtest_with_too_few_customers_at_the_cutoff(
    spark_warehouse, spark_inputs, tmp_path, caplog
):
    from insiders.cycle import CyclePlan
    from insiders.warehouse.spark_cycle import _backtest

    tables = _inputs(n=40)
    _write_spark(spark_inputs, tables)
    plan = CyclePlan("run", ("a.csv",), horizon_days=HORIZON_DAYS)
    with caplog.at_level("WARNING"):
        assert _backtest(spark_warehouse, Settings(artifact_dir=tmp_path), plan, "cycle-1") is None
    assert "backtest skipped: 40 customers bought before the cutoff 2011-12-10 (need 50)" in caplog.text
    assert not spark_inputs.catalog.tableExists("ml.backtests")  # nothing written (ml was dropped before)
