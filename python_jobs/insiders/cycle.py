"""The ordered steps of `insiders run`, under a lock, recorded in ops.job_runs.

    database → lock → load → dbt build (upstream, into marts__build) → segment (ml.*)
             → dbt build (downstream of the ml source, into marts__build) → publish (swap into marts)

Any failure stops the cycle with a non-zero exit code; the published marts stay as they were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from insiders import bi, db, ops, publish
from insiders.backtest import cutoff_features_summary, run_backtest
from insiders.dbt import run_dbt
from insiders.errors import StepFailedError, UserError
from insiders.forecast_job import run_forecast
from insiders.ingest import load_sources, shop_source_vars
from insiders.load import LoadResult
from insiders.report import write_report
from insiders.retry import with_retries
from insiders.settings import Settings

log = logging.getLogger(__name__)

EXIT_FILES_FAILED = 5  # the cycle published, but some files were refused (see raw.files)
UPSTREAM = ["--exclude", "source:ml+"]
MIN_BACKTEST_CUSTOMERS = 50
DOWNSTREAM = ["--select", "source:ml+"]


@dataclass
class CycleOutcome:
    job_run_id: int | None = None
    loads: list[LoadResult] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)
    segmentation: object | None = None
    backtest: object | None = None
    report_path: Path | None = None
    summary_rows: list[dict] = field(default_factory=list)
    exit_code: int = 0

    @property
    def files_failed(self) -> int:
        return sum(r.status == "failed" for r in self.loads)

    def job_run_update(self, status: str, exit_code: int, error: str | None = None) -> ops.JobRunUpdate:
        loaded = [r for r in self.loads if r.status == "loaded"]
        return ops.JobRunUpdate(
            status=status,
            exit_code=exit_code,
            step_seconds={k: round(v, 3) for k, v in self.step_seconds.items()},
            files_loaded=len(loaded),
            files_skipped=sum(r.status == "skipped" for r in self.loads),
            files_failed=self.files_failed,
            rows_loaded=sum(r.rows_loaded for r in loaded),
            rows_rejected=sum(r.rows_rejected for r in loaded),
            segmentation_run_id=getattr(self.segmentation, "run_id", None),
            error=error,
        )


class Steps:
    """Times each step, logs one progress line per step and reports it to a callback."""

    def __init__(self, outcome: CycleOutcome, on_step: Callable[[str, float], None] | None = None):
        self.outcome, self.on_step = outcome, on_step

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        log.info("%s: started", name, extra={"step": name})
        t0 = time.perf_counter()
        try:
            yield
        except BaseException:
            log.error("%s: failed after %.1fs", name, time.perf_counter() - t0, extra={"step": name})
            raise
        seconds = time.perf_counter() - t0
        self.outcome.step_seconds[name] = seconds
        log.info("%s: done in %.1fs", name, seconds, extra={"step": name, "seconds": round(seconds, 3)})
        if self.on_step:
            self.on_step(name, seconds)


def run_cycle(
    settings: Settings,
    sources: list[str],
    *,
    wait_for_lock: bool = False,
    seed: int = 42,
    on_step: Callable[[str, float], None] | None = None,
) -> CycleOutcome:
    outcome = CycleOutcome()
    step = Steps(outcome, on_step)
    with step("database"):
        url = db.ensure_database_ready(settings)
    lock_conn = db.connect_raw(url)  # holds the cycle lock and the run history for the whole cycle
    try:
        ops.ensure_ops_schema(lock_conn)
        ops.acquire_cycle_lock(lock_conn, wait=wait_for_lock)
        outcome.job_run_id = ops.start_job_run(lock_conn, "run", sources)
        try:
            _steps(settings, url, sources, outcome, step, seed)
        except BaseException as exc:
            code = exc.exit_code if isinstance(exc, UserError) else 1
            message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            _safe_finish(lock_conn, outcome, "failed", code, message)
            raise
        outcome.exit_code = EXIT_FILES_FAILED if outcome.files_failed else 0
        ops.finish_job_run(
            lock_conn, outcome.job_run_id, outcome.job_run_update("succeeded", outcome.exit_code)
        )
    finally:
        lock_conn.close()  # also releases the advisory lock
    return outcome


def _safe_finish(conn, outcome: CycleOutcome, status: str, code: int, message: str) -> None:
    try:
        conn.rollback()
        ops.finish_job_run(conn, outcome.job_run_id, outcome.job_run_update(status, code, message[:4000]))
    except Exception:  # the database may be what failed; the run then shows as abandoned later
        log.warning("could not record the failed cycle in ops.job_runs", exc_info=True)


def _steps(
    settings: Settings, url, sources: list[str], outcome: CycleOutcome, step: Steps, seed: int
) -> None:
    # The same vars for every dbt call of the cycle (and of every cycle): dbt re-parses the whole
    # project when vars change, which costs seconds per call.
    build_vars = {
        "marts_schema": publish.BUILD_SCHEMA,
        "backtest_horizon_days": settings.backtest_horizon_days,
    }
    readers = [settings.bi_role]
    with step("load"):  # loading is idempotent (one transaction per file): safe to retry whole
        outcome.loads = with_retries(lambda: load_sources(url, sources, settings), what="load")
        build_vars.update(shop_source_vars(url, settings))  # a warehouse relation instead of raw files
    with step("prepare"), db.raw_connection(url) as conn:
        if not bi.ensure_bi_role(conn, settings.bi_role, _secret(settings.bi_password)):
            readers = []
        publish.prepare_build_schema(conn, readers)
    with step("dbt build upstream"):
        run_dbt(["build", *UPSTREAM], url, settings, build_vars, quiet=True)
    with step("segment"):  # one transaction: a dropped connection leaves nothing, retry is safe
        outcome.segmentation = with_retries(lambda: _segment(url, settings, seed), what="segment")
    run_id = getattr(outcome.segmentation, "run_id", None)
    with step("forecast"), db.raw_connection(url) as conn:
        run_forecast(conn, features_schema=publish.BUILD_SCHEMA, run_id=run_id)
    if settings.backtest_in_cycle:
        with step("backtest"):
            outcome.backtest = _backtest(url, settings, outcome.segmentation, seed)
    with step("dbt build downstream"):
        run_dbt(
            ["build", *DOWNSTREAM], url, settings, {**build_vars, "segmentation_run_id": run_id}, quiet=True
        )
    with step("publish"), db.raw_connection(url) as conn:
        publish.publish(conn, readers)
    outcome.summary_rows = segment_summary_rows(url)
    with step("report"):  # after publish: a failed report is a warning, the marts are already out
        try:
            with db.raw_connection(url) as conn:
                outcome.report_path = write_report(conn, settings.report_dir)
        except Exception:
            log.warning("the HTML report could not be written", exc_info=True)


def _backtest(url, settings: Settings, segmentation, seed: int):
    """The cycle's backtest, on the cutoff features the upstream build made; skipped (with a
    warning) when the history before the cutoff is too short."""
    with db.raw_connection(url) as conn:
        cutoff, customers = cutoff_features_summary(conn)
    if customers < MIN_BACKTEST_CUSTOMERS:
        log.warning(
            "backtest skipped: %d customers bought before the cutoff %s (need %d)",
            customers, cutoff, MIN_BACKTEST_CUSTOMERS,
        )  # fmt: skip
        return None
    return run_backtest(
        url,
        settings,
        horizon_days=settings.backtest_horizon_days,
        seed=seed,
        cycle_run_id=segmentation.run_id,
    )


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


def _segment(url, settings: Settings, seed: int):
    try:
        from insiders.segment import run_segmentation
    except ImportError as exc:  # pragma: no cover - during development of the segmentation job
        raise StepFailedError(f"segmentation job unavailable: {exc}") from exc
    engine = db.make_engine(url)
    try:
        return run_segmentation(engine, settings, features_schema=publish.BUILD_SCHEMA, seed=seed)
    finally:
        engine.dispose()


SUMMARY_COLUMNS = (
    "segment_name", "customers", "share_of_customers", "share_of_revenue",
    "mean_gross_revenue", "mean_recency_days",
)  # fmt: skip


def segment_summary_rows(url) -> list[dict]:
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('marts.segment_summary') is not null")
        if not cur.fetchone()[0]:
            return []
        cur.execute(f"select {', '.join(SUMMARY_COLUMNS)} from marts.segment_summary order by customers")
        return [dict(zip(SUMMARY_COLUMNS, row, strict=True)) for row in cur.fetchall()]


def format_summary(rows: list[dict]) -> str:
    """The segment summary as a plain-text table."""
    if not rows:
        return "(no segment summary)"
    head = ("segment", "customers", "% customers", "% revenue", "mean gross revenue", "mean recency (days)")
    body = [
        (
            str(r["segment_name"]),
            f"{r['customers']:,}",
            f"{100 * float(r['share_of_customers']):.1f}%",
            f"{100 * float(r['share_of_revenue']):.1f}%",
            f"{float(r['mean_gross_revenue']):,.0f}",
            f"{float(r['mean_recency_days']):.0f}",
        )  # fmt: skip
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]

    def fmt(cells) -> str:
        pairs = zip(cells, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(pairs))

    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *(fmt(b) for b in body)])
