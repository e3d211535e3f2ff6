"""The one orchestration path of every command that builds marts (`run`, `segment`, `backtest`):
under the cycle lock, recorded in ops.job_runs, built aside and published at once.

    database → lock → load → dbt build (upstream, into marts__build) → segment (ml.*) → forecast
             → backtest → dbt build (downstream of the ml source, into marts__build)
             → publish (swap into marts) → report

A command is a ``CyclePlan``: which of the optional steps (load, segment, backtest) it runs, and the
backtest's cutoff. Any failure stops the cycle with a non-zero exit code; the published marts stay as
they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path

from psycopg2 import sql

from insiders import bi, db, ops, publish
from insiders.dbt import run_dbt
from insiders.errors import StepFailedError, UserError
from insiders.ingest import load_sources, shop_source_vars
from insiders.load import LoadResult
from insiders.logs import StepTimer
from insiders.retry import with_retries
from insiders.settings import Settings

# The modelling and report modules (scikit-learn, scipy, matplotlib: most of this module's import time)
# are imported in the steps that use them, so a cycle starts without them (README, "Performance").

log = logging.getLogger(__name__)

EXIT_FILES_FAILED = 5  # the cycle published, but some files were refused (see raw.files)
# dbt unit tests check SQL logic on fixed rows, not the data: `make test` runs every one of them on a
# fresh database (tests/test_dbt_unit_tests.py), so the cycle's builds leave them out.
NO_UNIT_TESTS = ["--exclude-resource-type", "unit_test"]
UPSTREAM = ["--exclude", "source:ml+", *NO_UNIT_TESTS]
MIN_BACKTEST_CUSTOMERS = 50
DOWNSTREAM = ["--select", "source:ml+", *NO_UNIT_TESTS]


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


@dataclass(frozen=True)
class CyclePlan:
    """What a command asks of the cycle. ``run``: everything; ``segment``: a new segmentation of the
    current data (no load, no backtest); ``backtest``: a backtest at ``backtest_cutoff`` (default: the
    reference date − horizon, decided by dbt's int_reference_dates) against the current run."""

    command: str = "run"
    sources: tuple[str, ...] = ()
    load: bool = True
    segment: bool = True
    backtest: bool = True
    backtest_cutoff: date | None = None
    horizon_days: int = 91
    seed: int = 42
    full_refresh: bool = False  # rebuild the incremental models from all lines (dbt --full-refresh)

    @classmethod
    def for_run(cls, settings: Settings, sources, seed: int = 42, full_refresh: bool = False) -> CyclePlan:
        return cls(
            "run", tuple(sources), backtest=settings.backtest_in_cycle,
            horizon_days=settings.backtest_horizon_days, seed=seed, full_refresh=full_refresh,
        )  # fmt: skip

    @classmethod
    def for_segment(cls, settings: Settings, seed: int = 42) -> CyclePlan:
        return cls(
            "segment", load=False, backtest=False, horizon_days=settings.backtest_horizon_days, seed=seed
        )

    @classmethod
    def for_backtest(cls, cutoff: date | None, horizon_days: int, seed: int = 42) -> CyclePlan:
        if horizon_days < 1:
            raise UserError("--horizon-days must be at least 1")
        return cls(
            "backtest",
            load=False,
            segment=False,
            backtest_cutoff=cutoff,
            horizon_days=horizon_days,
            seed=seed,
        )


def run_cycle(
    settings: Settings,
    sources: list[str] | None = None,
    *,
    plan: CyclePlan | None = None,
    wait_for_lock: bool = False,
    seed: int = 42,
    on_step: Callable[[str, float], None] | None = None,
) -> CycleOutcome:
    """Run ``plan`` (default: the whole cycle on ``sources``) under the lock; see the module."""
    plan = plan or CyclePlan.for_run(settings, sources or [], seed)
    outcome = CycleOutcome()
    step = StepTimer(log, outcome.step_seconds, on_step)
    with step("database"):
        url = db.ensure_database_ready(settings)
    # holds the cycle lock and the run history for the whole cycle; keepalives notice a dead peer
    lock_conn = db.connect_raw(url, keepalives=True)
    try:
        ops.ensure_ops_schema(lock_conn)
        ops.acquire_cycle_lock(lock_conn, wait=wait_for_lock)
        outcome.job_run_id = ops.start_job_run(lock_conn, plan.command, list(plan.sources))
        try:
            _steps(settings, url, plan, outcome, step, lock_conn.get_backend_pid())
        except BaseException as exc:
            code = exc.exit_code if isinstance(exc, UserError) else 1
            message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            _safe_finish(lock_conn, outcome, "failed", code, message)
            raise
        outcome.exit_code = EXIT_FILES_FAILED if outcome.files_failed else 0
        ops.record_finish(  # published: recording the end never fails the cycle
            lock_conn,
            outcome.job_run_id,
            outcome.job_run_update("succeeded", outcome.exit_code),
            reconnect=lambda: db.connect_raw(url, attempts=3),
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
    settings: Settings,
    url,
    plan: CyclePlan,
    outcome: CycleOutcome,
    step: StepTimer,
    lock_pid: int | None = None,
) -> None:
    # The same vars for every dbt call of a cycle (and of every cycle of a command): dbt re-parses the
    # whole project when vars change, which costs seconds per call.
    build_vars = {"marts_schema": publish.BUILD_SCHEMA, "backtest_horizon_days": plan.horizon_days}
    if plan.backtest_cutoff is not None:
        build_vars["backtest_cutoff"] = plan.backtest_cutoff.isoformat()
    readers = [settings.bi_role]
    if plan.load:
        with step("load"):  # loading is idempotent (one transaction per file): safe to retry whole
            outcome.loads = with_retries(lambda: load_sources(url, list(plan.sources), settings), what="load")
    shop_vars = shop_source_vars(url, settings)  # a warehouse relation instead of raw files
    build_vars.update(shop_vars)
    # A warehouse relation is not delivered file by file: its rows can change under its one file id, so
    # the incremental models are rebuilt from it every cycle (incremental equals full).
    refresh = ["--full-refresh"] if plan.full_refresh or shop_vars else []
    with step("prepare"), db.raw_connection(url) as conn:
        if not plan.segment and not _has_current_run(conn):
            raise UserError("no segmentation run is published yet: run `insiders run` first")
        # managing the role may be a DBA's job; the grants are the publish's (schema owner's) in any case
        bi.manage_bi_role(conn, settings.bi_role, _secret(settings.bi_password))
        publish.prepare_build_schema(conn, lock_pid=lock_pid)
    with step("dbt build upstream"):
        run_dbt(["build", *UPSTREAM, *refresh], url, settings, build_vars, quiet=True)
    run_id = _segment(url, settings, plan, outcome, step) if plan.segment else None
    # the backtest's own segmentation starts after the cycle's has committed, as it always did: both
    # draw new segment ids from the runs before them, and the previous run it compares with is the
    # cycle's; it is fitted beside the forecast (BacktestRun)
    backtest = _start_backtest(url, settings, plan) if plan.backtest else None
    try:
        if plan.segment:
            _forecast(url, outcome, step)
    except BaseException:
        if backtest is not None:
            backtest.cancel()
        raise
    if backtest is not None:
        with step("backtest") as details:  # what is left of it once the segmentation and forecast are done
            outcome.backtest = backtest.finish(run_id)
            details["fit_alongside_seconds"] = round(backtest.fit_seconds, 3)
    downstream_vars = {**build_vars, "segmentation_run_id": run_id} if run_id else build_vars
    with step("dbt build downstream"):
        run_dbt(["build", *DOWNSTREAM, *refresh], url, settings, downstream_vars, quiet=True)
    with step("publish"), db.raw_connection(url) as conn:
        publish.publish(conn, readers, lock_pid=lock_pid, job_run_id=outcome.job_run_id)
    try:  # after publish nothing may fail the cycle: the marts are out
        outcome.summary_rows = segment_summary_rows(url)
    except Exception as exc:
        log.warning("the segment summary could not be read: %s", str(exc).strip() or type(exc).__name__)
    with step("report"):  # after publish: a failed report is a warning, the marts are already out
        try:
            with db.raw_connection(url) as conn:
                outcome.report_path = write_report(conn, settings.report_dir)
        except Exception as exc:  # one line; the traceback only at DEBUG
            log.warning("the HTML report could not be written: %s", str(exc).strip() or type(exc).__name__)
            log.debug("report failure", exc_info=True)


def run_forecast(conn, **kwargs):
    """insiders.forecast_job.run_forecast, imported when the cycle gets there (scipy). One BLAS thread:
    its optimisers work on vectors of a few thousand, and OpenBLAS threads spin-waiting on a busy
    2-core machine made the fit 2-3x slower (the segmentation does the same; README "Performance")."""
    from threadpoolctl import threadpool_limits

    from insiders.forecast_job import run_forecast as forecast

    with threadpool_limits(limits=1):
        return forecast(conn, **kwargs)


def write_report(conn, report_dir):
    """insiders.report.write_report, imported when the cycle gets there (matplotlib)."""
    from insiders.report import write_report as report

    return report(conn, report_dir)


def _has_current_run(conn) -> bool:
    with conn.cursor() as cur:
        cur.execute("select to_regclass('marts.segmentation_runs') is not null")
        if cur.fetchone()[0]:
            cur.execute("select exists (select 1 from marts.segmentation_runs where is_current)")
            return bool(cur.fetchone()[0])
    return False


def _segment(url, settings: Settings, plan: CyclePlan, outcome: CycleOutcome, step) -> str:
    """The cycle's segmentation; its run id (dbt makes it current)."""
    with step("segment"):  # one transaction: a dropped connection leaves nothing, retry is safe
        outcome.segmentation = with_retries(lambda: _segmentation(url, settings, plan), what="segment")
    return outcome.segmentation.run_id


def _forecast(url, outcome: CycleOutcome, step) -> None:
    """The forecast of the cycle's segmentation run: it refits when the segmentation does; an assigned
    run reuses its model's forecast."""
    run_id = outcome.segmentation.run_id
    parameters = getattr(outcome.segmentation, "parameters", None) or {}
    model_run_id = parameters.get("model_run_id") if parameters.get("fit") == "assigned" else None
    with step("forecast"), db.raw_connection(url) as conn:
        run_forecast(conn, features_schema=publish.BUILD_SCHEMA, run_id=run_id, model_run_id=model_run_id)


def _start_backtest(url, settings: Settings, plan: CyclePlan) -> BacktestRun | None:
    """The backtest on the cutoff features the upstream build made, or None. In a cycle it is skipped
    (with a warning) when the history before the cutoff is too short; asked for by name, that is an
    error. In `insiders run` it is also skipped when its inputs did not change enough since the last
    backtest that fitted (``refit_reason``): it would prove the same thing again; the marts keep that
    one. When the cycle also segments, the fit starts at once, beside the forecast (BacktestRun)."""
    from insiders.backtest import BACKTEST_SCHEMA, cutoff_features_summary

    with db.raw_connection(url) as conn:
        cutoff, customers = cutoff_features_summary(conn)
        reason, fitted = refit_reason(conn, settings, BACKTEST_SCHEMA, "backtest", plan.seed)
    if customers < MIN_BACKTEST_CUSTOMERS:
        message = f"{customers} customers bought before the cutoff {cutoff} (need {MIN_BACKTEST_CUSTOMERS})"
        if plan.command == "backtest":
            raise UserError(f"backtest impossible: {message}")
        log.warning("backtest skipped: %s", message)
        return None
    if plan.command == "run" and reason is None:
        log.info("backtest kept: its inputs did not change enough since backtest run %s", fitted.run_id)
        return None
    return BacktestRun(url, settings, plan.seed, alongside=plan.segment)


class BacktestRun:
    """The backtest's fit (its own segmentation and forecast at the cutoff) in a forked child process
    beside the cycle's forecast when ``alongside`` (2 cores, one numeric thread each: README
    "Performance"), else in this process when finished. ``finish``
    writes its ml.backtests rows with the cycle's segmentation run id, which only then is known."""

    def __init__(self, url, settings: Settings, seed: int, *, alongside: bool) -> None:
        from insiders.alongside import Alongside
        from insiders.backtest import fit_backtest

        self._url, self._fit = url, partial(fit_backtest, url, settings, seed=seed)
        self._child = Alongside("backtest", self._fit) if alongside else None
        self.fit_seconds = 0.0

    def finish(self, cycle_run_id):
        from insiders.backtest import write_backtest

        if self._child is None:
            result = self._fit()
        else:
            result = self._child.result()
            self.fit_seconds = self._child.seconds
        write_backtest(self._url, result, cycle_run_id)
        return result

    def cancel(self) -> None:
        if self._child is not None:
            self._child.cancel()


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


def _segmentation(url, settings: Settings, plan: CyclePlan):
    """A new fit when ``refit_reason`` gives one (or `insiders segment` asks for it), otherwise the
    customers assigned with the last fitted model (recorded as such: parameters.fit = 'assigned')."""
    try:
        from insiders.segment import assign_segmentation, run_segmentation
    except ImportError as exc:  # pragma: no cover - during development of the segmentation job
        raise StepFailedError(f"segmentation job unavailable: {exc}") from exc
    if plan.command == "run":
        with db.raw_connection(url) as conn:
            reason, fitted = refit_reason(conn, settings, publish.BUILD_SCHEMA, "cycle", plan.seed)
    else:
        reason, fitted = f"`insiders {plan.command}` asks for a new fit", None
    engine = db.make_engine(url)
    try:
        if reason is None:
            return assign_segmentation(engine, fitted, features_schema=publish.BUILD_SCHEMA)
        log.info("segmentation: refit (%s)", reason)
        return run_segmentation(
            engine, settings, features_schema=publish.BUILD_SCHEMA, seed=plan.seed, refit_reason=reason
        )
    finally:
        engine.dispose()


def refit_reason(conn, settings: Settings, features_schema: str, purpose: str, seed: int):
    """(why the model must be fitted again, or None to assign with it; the last fitted run or None).

    Refit when there is no fitted run of ``purpose`` (or its artefact is gone, or it used other
    features or another seed); on the schedule: the features' as_of_date is INSIDERS_REFIT_EVERY_DAYS
    or more after the fitted run's (0: every cycle), or before it; or when more than
    INSIDERS_REFIT_CHANGED_SHARE of today's customers are new, gone or have other features than at the
    fit. Recency is left out of that comparison: it grows by a day for everyone every day, which the
    schedule covers.
    """
    from insiders.segment import features as feats
    from insiders.segment import store
    from insiders.segment.artifact import artifact_exists

    store.ensure_ml_schema(conn)
    fitted = store.last_fitted_run(conn, purpose)
    conn.rollback()
    every, threshold = settings.refit_every_days, settings.refit_changed_share
    if fitted is None:
        return "no fitted model yet", None
    if every == 0:
        return "INSIDERS_REFIT_EVERY_DAYS=0: every cycle refits", fitted
    if fitted.features != list(feats.FEATURES):
        return "the fitted model used other features", fitted
    if fitted.random_seed != seed:
        return f"another seed ({seed}, the model: {fitted.random_seed})", fitted
    if not fitted.artifact_uri or not artifact_exists(fitted.artifact_uri):
        return f"the model artefact of run {fitted.run_id} is missing", fitted
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("select max(as_of_date) from {}").format(
                sql.Identifier(features_schema, "customer_features")
            )
        )
        as_of = cur.fetchone()[0]
    conn.rollback()
    if as_of is None:
        return None, fitted  # no customers: the job says so
    days = (as_of - fitted.as_of_date).days
    if days < 0:
        return f"the features (as of {as_of}) are older than the model's ({fitted.as_of_date})", fitted
    if days >= every:
        return f"the model is {days} days old (INSIDERS_REFIT_EVERY_DAYS={every})", fitted
    compared = [c for c in feats.FEATURES if c != "recency_days"]
    current, changed = store.changed_customers(conn, features_schema, fitted.run_id, compared)
    conn.rollback()
    share = changed / max(current, 1)
    if share > threshold:
        return f"{share:.1%} of customers new or changed (INSIDERS_REFIT_CHANGED_SHARE={threshold})", fitted
    log.info(
        "%s: %d of %d customers new or changed since run %s (%.1f%%, refit above %.1f%%), model %d days old",
        purpose, changed, current, fitted.run_id, 100 * share, 100 * threshold, days,
    )  # fmt: skip
    return None, fitted


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
