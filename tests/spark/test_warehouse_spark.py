"""The job's warehouse on Spark (insiders.warehouse.spark): one JVM shared with dbt-spark, ml runs
written with the run row last, reads equal to what was written and to Postgres's, the segmentation on
Spark equal to the one on Postgres, the lock table, the job-run history and the publish as views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from insiders import ops
from insiders.errors import LockBusyError
from insiders.segment import features as feats
from insiders.segment import job, store
from insiders.settings import Settings
from insiders.warehouse import spark_ml
from insiders.warehouse.spark import OWNER
from tests.insiders.segment.synthetic import separated_customers, write_features
from tests.spark.conftest import SPARK_URL_UNUSED

SCHEMA = "marts_wh_test"


@pytest.fixture(scope="module")
def features(spark_warehouse):
    """The same synthetic customer_features on Spark (and the frame, for Postgres)."""
    frame, _ = separated_customers()
    spark = spark_warehouse.spark
    spark.sql(f"create database if not exists {SCHEMA}")
    columns = [*feats.KEY_COLUMNS, *feats.FEATURES]
    spark.createDataFrame(frame[columns]).write.mode("overwrite").saveAsTable(f"{SCHEMA}.customer_features")
    return frame


@pytest.fixture
def fresh_ml(spark_warehouse):
    spark_warehouse.spark.sql("drop database if exists ml cascade")


def test_the_job_and_dbt_share_one_jvm_and_the_job_keeps_ansi_on(spark_warehouse, spark_home, macro_project):
    from pyspark.sql import SparkSession

    from insiders.dbt import run_dbt

    spark = spark_warehouse.spark
    spark.sql("create database if not exists wh_probe")
    spark.sql("drop table if exists wh_probe.answer")
    spark.sql("create table wh_probe.answer using parquet as select 42 as n")
    settings = Settings(
        database_url=SPARK_URL_UNUSED.render_as_string(hide_password=False), project_dir=macro_project,
        home=spark_home, dbt_target="spark", dbt_target_path=spark_home / "target",
    )  # fmt: skip
    result = run_dbt(
        ["show", "--inline", "select n from wh_probe.answer"], SPARK_URL_UNUSED, settings, quiet=True
    )
    assert [tuple(r) for r in result.results[0].agate_table.rows] == [(42,)]  # dbt sees the job's table
    base = SparkSession.builder.getOrCreate()  # what dbt-spark's session connection calls
    assert base.sparkContext is spark.sparkContext  # one JVM, one SparkContext
    assert base.conf.get("spark.sql.ansi.enabled") == "false"  # dbt-spark forced it off...
    assert spark.conf.get("spark.sql.ansi.enabled") == "true"  # ...not on the job's session
    assert spark.conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"
    with pytest.raises(Exception, match="CAST_INVALID_INPUT"):
        spark.sql("select cast('x' as int)").collect()


def test_features_read_through_spark_equal_the_postgres_read(spark_warehouse, features, pg_conn):
    write_features(pg_conn, features, schema="marts")
    on_pg = feats.read_features(pg_conn, "marts")
    on_spark = spark_ml.read_features(spark_warehouse, SCHEMA)
    pd.testing.assert_frame_equal(on_spark, on_pg, check_dtype=False)


def _run_row(run_id: str, **extra) -> dict:
    now = datetime.now(UTC)
    return {
        "run_id": run_id, "status": "succeeded", "started_at": now, "finished_at": now,
        "code_version": "test", "random_seed": 1, "purpose": "cycle", "parameters": {"fit": "fitted"},
        "features": ["gross_revenue", "purchases"], **extra,
    }  # fmt: skip


def _tables(run_id_segment: int = 1) -> dict[str, pd.DataFrame]:
    segments = pd.DataFrame([{
        "segment_id": run_id_segment, "archetype": "Insiders", "is_insider": True, "model_label": 0,
        "size": 2, "centre": {"gross_revenue": 1.5}, "centre_original": {"gross_revenue": 1000.0},
        "profile": {"mean": {"gross_revenue": 1000.0}}, "matched_by": None, "match_cost": float("nan"),
    }])  # fmt: skip
    customers = pd.DataFrame({
        "customer_id": ["12346", "12347"], "segment_id": [run_id_segment] * 2,
        "distance_to_centre": [0.25, 0.5], "probability": [None, 0.9],
        "features": [{"gross_revenue": 900.0}, {"gross_revenue": 1100.0}],
    })  # fmt: skip
    return {"ml.segments": segments, "ml.customer_segments": customers}


def test_an_ml_run_is_visible_only_with_its_run_row_written_last(spark_warehouse, fresh_ml, monkeypatch):
    wh = spark_warehouse
    inserted: list[str] = []
    real_insert = wh.insert_frame

    def insert_then_fail_at_the_run_row(table, frame, run_id=None):
        inserted.append(table)
        if table == spark_ml.RUN_TABLE:
            raise RuntimeError("the driver died")
        return real_insert(table, frame, run_id)

    with monkeypatch.context() as patch:
        patch.setattr(wh, "insert_frame", insert_then_fail_at_the_run_row)
        with pytest.raises(RuntimeError):
            wh.write_ml_run(_run_row("r1"), _tables())
    assert inserted == ["ml.segments", "ml.customer_segments", spark_ml.RUN_TABLE]  # run row last
    assert wh.read_frame("select count(*) as n from ml.customer_segments")["n"].iloc[0] == 2  # orphans...
    assert wh.read_run_table("ml.customer_segments").empty  # ...that no reader sees
    assert spark_ml.read_previous(wh) is None

    wh.write_ml_run(_run_row("r2"), _tables(run_id_segment=2))
    assert wh.read_frame("select distinct run_id from ml.customer_segments")["run_id"].tolist() == ["r2"]
    assert wh.read_frame("select run_id from ml.segmentation_runs")["run_id"].tolist() == ["r2"]


def test_reads_equal_what_was_written(spark_warehouse, fresh_ml):
    wh = spark_warehouse
    row, tables = _run_row("r3", as_of_date=datetime(2011, 12, 10).date(), n_customers=2), _tables(5)
    wh.write_ml_run(row, tables)
    runs = wh.read_run_table(spark_ml.RUN_TABLE)
    assert runs[["run_id", "status", "n_customers"]].values.tolist() == [["r3", "succeeded", 2]]
    assert list(runs["features"].iloc[0]) == ["gross_revenue", "purchases"]
    assert runs["as_of_date"].iloc[0] == datetime(2011, 12, 10).date()
    customers = wh.read_run_table("ml.customer_segments", run_id="r3").sort_values("customer_id")
    assert customers["distance_to_centre"].tolist() == [0.25, 0.5]
    assert customers["probability"].isna().tolist() == [True, False]
    assert customers["features"].tolist() == ['{"gross_revenue": 900.0}', '{"gross_revenue": 1100.0}']
    previous = spark_ml.read_previous(wh)
    assert (previous.run_id, previous.next_segment_id) == ("r3", 6)
    assert previous.segments["centre_original"].tolist() == [{"gross_revenue": 1000.0}]
    assert previous.labels.to_dict() == {"12346": 5, "12347": 5}


def test_the_segmentation_on_spark_equals_the_one_on_postgres(
    spark_warehouse, features, fresh_ml, pg_conn, tmp_path
):
    write_features(pg_conn, features, schema="marts")
    settings = Settings(artifact_dir=tmp_path / "artifacts")
    runs = []
    for _ in range(2):  # the second run is matched to the first (the previous run read on each engine)
        on_pg = job.run_segmentation(pg_conn, settings, features_schema="marts", seed=3)
        on_spark = spark_ml.run_segmentation(spark_warehouse, settings, features_schema=SCHEMA, seed=3)
        runs.append((on_pg, on_spark))
    for on_pg, on_spark in runs:
        assert (on_spark.n_customers, on_spark.algorithm, on_spark.k) == (
            on_pg.n_customers,
            on_pg.algorithm,
            on_pg.k,
        )
        assert on_spark.insiders_segment_id == on_pg.insiders_segment_id
        assert on_spark.previous_run_id is not None or on_pg.previous_run_id is None
        pg_labels = dict(store.previous_labels(pg_conn, on_pg.run_id))
        spark_labels = spark_warehouse.read_run_table("ml.customer_segments", run_id=on_spark.run_id)
        assert dict(zip(spark_labels["customer_id"], spark_labels["segment_id"], strict=True)) == pg_labels
        pg_conn.rollback()
    assert runs[1][1].adjusted_rand_index == pytest.approx(runs[1][0].adjusted_rand_index)
    names = spark_warehouse.read_run_table("ml.segments", run_id=runs[1][1].run_id).sort_values("segment_id")
    pg_names = store.previous_segments(pg_conn, runs[1][0].run_id)
    assert names["archetype"].tolist() == pg_names["archetype"].tolist()


def test_the_cycle_lock_is_exclusive_taken_over_when_stale_and_released(spark_warehouse):
    wh = spark_warehouse
    with wh.cycle_lock():
        assert wh._lock_holder()["owner"] == OWNER
    assert wh._lock_holder() is None  # released
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    wh._write_lock("other-host:1", long_ago)  # another live cycle
    with pytest.raises(LockBusyError, match="other-host:1"), wh.cycle_lock(stale_after_s=7200):
        pass
    with wh.cycle_lock(stale_after_s=60):  # its heartbeat is older than a minute: taken over
        assert wh._lock_holder()["owner"] == OWNER


def test_job_runs_are_appended_and_a_dead_run_becomes_abandoned(spark_warehouse):
    wh = spark_warehouse
    wh.spark.sql("drop database if exists ops cascade")
    dead = wh.start_job_run("run", ["a.csv"])
    current = wh.start_job_run("run", ["a.csv"])
    update = ops.JobRunUpdate(status="succeeded", exit_code=0, step_seconds={"load": 1.5}, files_loaded=1,
                              rows_loaded=10, segmentation_run_id="r9")  # fmt: skip
    wh.finish_job_run(current, update)
    runs = wh.job_runs().set_index("job_run_id")
    assert (dead, current) == (1, 2)
    assert runs.loc[dead, "status"] == "abandoned"
    assert runs.loc[current, ["status", "exit_code", "rows_loaded", "segmentation_run_id"]].tolist() == [
        "succeeded", 0, 10, "r9",
    ]  # fmt: skip
    assert list(runs.loc[current, "sources"]) == ["a.csv"]
    assert (
        wh.read_frame("select count(*) as n from ops.job_runs")["n"].iloc[0] == 4
    )  # appended, never updated


def _drop_relation(spark, name: str) -> None:
    """Drop a table or view another test of the suite (one metastore) may have left."""
    if spark.catalog.tableExists(name):
        kind = spark.catalog.getTable(name).tableType
        spark.sql(f"drop {'view' if kind == 'VIEW' else 'table'} {name}")


def test_publish_points_the_marts_views_at_the_newest_build(spark_warehouse):
    spark = spark_warehouse.spark
    spark.sql("create database if not exists marts")
    _drop_relation(spark, "marts.segment_summary")
    spark.sql("create table marts.segment_summary using parquet as select 0 as n")  # e.g. a dbt build by hand
    for build, n in (("marts__build_1", 1), ("marts__build_2", 2)):
        spark.sql(f"create database if not exists {build}")
        spark.sql(f"create table {build}.segment_summary using parquet as select {n} as n")
        if n == 1:
            spark.sql(f"create table {build}.gone using parquet as select 1 as n")
        spark_warehouse.publish(build, "marts")
        assert spark.sql("select n from marts.segment_summary").collect()[0][0] == n
    assert not spark.catalog.tableExists("marts.gone")  # a mart no longer built is not published
    assert not spark.catalog.databaseExists("marts__build_1")  # the older build is dropped


def test_the_forecast_on_spark_equals_the_one_on_postgres(spark_warehouse, fresh_ml, pg_conn):
    import numpy as np

    from insiders.forecast_job import run_forecast
    from insiders.warehouse import spark_forecast
    from tests.insiders.test_forecast_job import _features, _simulate

    _features(pg_conn)  # the same rows (same seed) as below
    rows = _simulate(np.random.default_rng(7), 400)
    rows += [("loyal", "2011-12-10", 20, 360, 365, 200.0), ("lapsed", "2011-12-10", 20, 60, 365, 200.0)]
    frame = pd.DataFrame(rows, columns=["customer_id", "as_of_date", "repeat_purchase_days", "active_span_days",
                                        "customer_age_days", "avg_repeat_day_revenue"])  # fmt: skip
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).dt.date
    spark = spark_warehouse.spark
    _drop_relation(spark, "intermediate.int_purchase_lines")  # as on Postgres here: no purchase lines
    spark.sql("create database if not exists marts_fc_test")
    spark.createDataFrame(frame).write.mode("overwrite").saveAsTable("marts_fc_test.customer_features")

    on_pg = run_forecast(pg_conn, features_schema="marts", run_id="run-1")
    on_spark = spark_forecast.run_forecast(spark_warehouse, features_schema="marts_fc_test", run_id="run-1")
    for fitted in ("bg", "gg"):  # the same fit from the same inputs
        assert vars(getattr(on_spark, fitted)) == pytest.approx(vars(getattr(on_pg, fitted)), rel=1e-9)
    fits = spark_warehouse.read_frame("select * from ml.forecast_fits")
    assert fits[["run_id", "n_customers", "purchase_model"]].values.tolist() == [
        ["run-1", 402, on_pg.purchase_model]
    ]
    assert fits["bg_r"].iloc[0] == pytest.approx(on_pg.bg.r, rel=1e-9)
    written = spark_warehouse.read_run_table("ml.customer_forecasts", "ml.forecast_fits").set_index(
        "customer_id"
    )
    with pg_conn.cursor() as cur:
        cur.execute("select customer_id, expected_revenue_90d, probability_alive from ml.customer_forecasts")
        expected = pd.DataFrame(
            cur.fetchall(), columns=["customer_id", "expected_revenue_90d", "probability_alive"]
        )
    pg_conn.rollback()
    expected = expected.set_index("customer_id").sort_index()
    got = written.loc[expected.index, ["expected_revenue_90d", "probability_alive"]]
    np.testing.assert_allclose(got.to_numpy(float), expected.to_numpy(float), rtol=1e-9, atol=1e-9)
    intervals = spark_warehouse.read_run_table("ml.forecast_revenue_intervals", "ml.forecast_fits")
    assert len(intervals) == len(on_pg.intervals)
