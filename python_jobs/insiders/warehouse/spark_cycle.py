"""``insiders load`` and ``insiders run`` on Spark (INSIDERS_TARGET=spark): the cycle's steps through
``SparkWarehouse``, in one process and one JVM with dbt-spark (spark_session).

    session → lock (ops.cycle_lock) → job run → load → dbt build upstream (into marts__build_<job run>)
            → segment (ml.*, run row last) → forecast (ml.forecast_*, fit row last)
            → dbt build downstream → publish (marts.* views) → summary

What differs from the Postgres cycle (docs/spark.md section 8): the build database is new per cycle
(``marts__build_<job_run_id>``: the published views keep reading the previous one while this one is
built); the publish repoints one view per mart; the BI role is not managed (skipped with a log line).
The backtest (spark_backtest) runs after the forecast as on Postgres, but is never "kept" (a new
backtest every cycle). S3 sources go through s3.py with a Spark sink. Not ported yet: the refit
schedule (every Spark cycle fits the segmentation), the report.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import make_url

from insiders.errors import UserError
from insiders.load import LoadResult
from insiders.logs import StepTimer

log = logging.getLogger(__name__)

# run_dbt passes a database URL to the profile's Postgres env vars; the spark output reads none of them
NO_DATABASE_URL = make_url("postgresql://unused@127.0.0.1:1/unused")
BUILD_PREFIX = "marts__build_"


def load_sources(wh, sources: list[str], settings) -> list[LoadResult]:
    """Every file of every local source into the Spark raw tables; a failed file does not stop the others."""
    from insiders.ingest import load_limits, load_local_source
    from insiders.layouts import load_layout

    layout = load_layout(settings.layout)
    if layout.is_relation:
        raise UserError(f"layout {layout.name} names a warehouse relation: not supported on Spark yet")
    limits = load_limits(settings)
    results: list[LoadResult] = []
    for source in sources:
        if source.startswith("s3://"):  # s3.py's listing, skips by ETag and per-object errors
            results.extend(_load_s3(wh, source, settings, layout))
            continue
        results.extend(
            load_local_source(source, lambda path: wh.load_file(path, layout=layout, limits=limits))
        )
    return results


def _load_s3(wh, source: str, settings, layout) -> list[LoadResult]:
    from functools import partial

    from insiders.s3 import load_s3_prefix
    from insiders.warehouse import spark_load

    spark_load.ensure_tables(wh.spark, "raw")  # the ETag look-up reads raw.files
    sink = (partial(spark_load.loaded_etag, wh.spark), wh.load_file)
    return load_s3_prefix(None, source, settings, layout=layout, sink=sink)


def open_spark_warehouse(settings):
    from insiders.warehouse.spark import SparkWarehouse

    return SparkWarehouse.open(settings)


def run_cycle(settings, plan, *, wait_for_lock: bool = False, on_step=None):
    """``cycle.run_cycle`` on Spark (module doc); the same CycleOutcome."""
    from insiders.cycle import EXIT_FILES_FAILED, CycleOutcome

    if plan.command != "run":
        raise UserError(f"`insiders {plan.command}` is not supported on Spark yet (use `insiders run`)")
    outcome = CycleOutcome()
    step = StepTimer(log, outcome.step_seconds, on_step)
    with step("spark session"):
        wh = open_spark_warehouse(settings)
    with wh.cycle_lock(wait=wait_for_lock):
        outcome.job_run_id = wh.start_job_run(plan.command, list(plan.sources))
        try:
            _steps(wh, settings, plan, outcome, step)
        except BaseException as exc:
            code = exc.exit_code if isinstance(exc, UserError) else 1
            message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            try:
                wh.finish_job_run(outcome.job_run_id, outcome.job_run_update("failed", code, message[:4000]))
            except Exception:
                log.warning("could not record the failed cycle in ops.job_runs", exc_info=True)
            raise
        outcome.exit_code = EXIT_FILES_FAILED if outcome.files_failed else 0
        wh.finish_job_run(outcome.job_run_id, outcome.job_run_update("succeeded", outcome.exit_code))
    return outcome


def _backtest(wh, settings, plan, cycle_run_id):
    """As ``cycle._backtest``: skipped with a warning when too few customers bought before the cutoff;
    never "kept" (every Spark cycle fits, so its backtest is made again)."""
    from insiders.cycle import MIN_BACKTEST_CUSTOMERS
    from insiders.warehouse import spark_backtest

    cutoff, customers = spark_backtest.cutoff_features_summary(wh)
    if customers < MIN_BACKTEST_CUSTOMERS:
        log.warning("backtest skipped: %d customers bought before the cutoff %s (need %d)",
                    customers, cutoff, MIN_BACKTEST_CUSTOMERS)  # fmt: skip
        return None
    return spark_backtest.run_backtest(wh, settings, seed=plan.seed, cycle_run_id=cycle_run_id)


def _steps(wh, settings, plan, outcome, step) -> None:
    from insiders.cycle import DOWNSTREAM, SUMMARY_COLUMNS, UPSTREAM
    from insiders.dbt import run_dbt
    from insiders.warehouse import spark_forecast, spark_ml

    build = f"{BUILD_PREFIX}{outcome.job_run_id}"
    build_vars = {"marts_schema": build, "backtest_horizon_days": plan.horizon_days}
    refresh = ["--full-refresh"] if plan.full_refresh else []
    if plan.load:
        with step("load"):
            outcome.loads = load_sources(wh, list(plan.sources), settings)
    with step("dbt build upstream"):
        run_dbt(["build", *UPSTREAM, *refresh], NO_DATABASE_URL, settings, build_vars, quiet=True)
    with step("segment"):
        outcome.segmentation = spark_ml.run_segmentation(
            wh, settings, features_schema=build, seed=plan.seed, refit_reason="every Spark cycle fits"
        )
    with step("forecast"):
        spark_forecast.run_forecast(wh, features_schema=build, run_id=outcome.segmentation.run_id)
    if plan.backtest:
        with step("backtest"):
            outcome.backtest = _backtest(wh, settings, plan, outcome.segmentation.run_id)
    downstream_vars = {**build_vars, "segmentation_run_id": outcome.segmentation.run_id}
    with step("dbt build downstream"):
        run_dbt(["build", *DOWNSTREAM, *refresh], NO_DATABASE_URL, settings, downstream_vars, quiet=True)
    with step("publish"):
        wh.publish(build, "marts")
    log.info(
        "BI access on Spark is the cluster's (Thrift authorizer / Unity Catalog grants): not managed here"
    )
    try:  # after publish nothing may fail the cycle
        frame = wh.read_frame(
            f"select {', '.join(SUMMARY_COLUMNS)} from marts.segment_summary order by customers"
        )
        outcome.summary_rows = frame.to_dict("records")
    except Exception as exc:
        log.warning("the segment summary could not be read: %s", str(exc).strip().splitlines()[0])
