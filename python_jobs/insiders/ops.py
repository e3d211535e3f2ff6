"""Run history (ops.job_runs) and the advisory lock that keeps cycles from overlapping."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from insiders.errors import LockBusyError
from insiders.schema import ensure_schema

log = logging.getLogger(__name__)

# One key for "a cycle is running" on this database (pg_advisory_lock takes a bigint).
CYCLE_LOCK_KEY = 0x1A51DE25


def ensure_ops_schema(conn) -> None:
    ensure_schema(conn, "ops_schema.sql")


def acquire_cycle_lock(conn, *, wait: bool = False, wait_timeout_s: float = 3600.0) -> None:
    """Take the session-level cycle lock on ``conn`` (released when it closes, even on SIGKILL).

    The session is exempted from the server's idle timeouts, which would end it (and free the lock)
    while the cycle works on other connections; open ``conn`` with TCP keepalives (db.connect_raw
    keepalives=True) so a dead network is noticed too. The publish re-checks the lock (publish.py).
    """
    deadline = time.monotonic() + wait_timeout_s
    with conn.cursor() as cur:
        cur.execute("set idle_in_transaction_session_timeout = 0")
        if conn.server_version >= 140000:
            cur.execute("set idle_session_timeout = 0")
        conn.commit()
        while True:
            cur.execute("select pg_try_advisory_lock(%s)", (CYCLE_LOCK_KEY,))
            if cur.fetchone()[0]:
                conn.commit()
                return
            conn.commit()
            if not wait or time.monotonic() > deadline:
                cur.execute(
                    "select pid, backend_start from pg_locks join pg_stat_activity using (pid) "
                    "where locktype = 'advisory' and objid = %s and granted limit 1",
                    (CYCLE_LOCK_KEY & 0xFFFFFFFF,),
                )
                holder = cur.fetchone()
                conn.commit()
                who = (
                    f" (database session pid {holder[0]} since {holder[1]:%Y-%m-%d %H:%M:%S})"
                    if holder
                    else ""
                )
                raise LockBusyError(f"another insiders cycle is running{who}; use --wait to wait for it")
            time.sleep(1.0)


def release_cycle_lock(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_unlock(%s)", (CYCLE_LOCK_KEY,))
    conn.commit()


def cycle_lock_is_held(conn) -> bool:
    with conn.cursor() as cur:
        cur.execute(
            "select exists (select 1 from pg_locks where locktype = 'advisory' and granted "
            "and pid = pg_backend_pid() and classid = 0 and objid = %s and objsubid = 1)",
            (CYCLE_LOCK_KEY & 0xFFFFFFFF,),
        )
        held = cur.fetchone()[0]
    conn.commit()
    return held


def start_job_run(conn, command: str, sources: list[str]) -> int:
    """Record a new running cycle; runs left 'running' by a killed process become 'abandoned', unless
    they had published (ops.job_runs.published_at, set by the swap): those succeeded.

    Call it while holding the cycle lock, so no other live cycle can own those rows.
    """
    with conn.cursor() as cur:
        cur.execute(
            "update ops.job_runs set finished_at = coalesce(finished_at, now()), "
            "status = case when published_at is not null then 'succeeded' else 'abandoned' end, "
            "error = coalesce(error, case when published_at is not null "
            "then 'published; the process ended before recording its end' "
            "else 'process ended without finishing (killed?)' end) where status = 'running'"
        )
        cur.execute(
            "insert into ops.job_runs (command, status, sources, hostname, pid) "
            "values (%s, 'running', %s, %s, %s) returning job_run_id",
            (command, sources, socket.gethostname(), os.getpid()),
        )
        job_run_id = cur.fetchone()[0]
    conn.commit()
    return job_run_id


@dataclass
class JobRunUpdate:
    status: str
    exit_code: int
    step_seconds: dict[str, float]
    files_loaded: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    segmentation_run_id: str | None = None
    error: str | None = None


def finish_job_run(conn, job_run_id: int, update: JobRunUpdate) -> None:
    with conn.cursor() as cur:
        cur.execute(
            """update ops.job_runs set finished_at = now(), status = %s, exit_code = %s, step_seconds = %s,
                      files_loaded = %s, files_skipped = %s, files_failed = %s, rows_loaded = %s,
                      rows_rejected = %s, segmentation_run_id = %s, error = %s
               where job_run_id = %s""",
            (
                update.status, update.exit_code, json.dumps(update.step_seconds), update.files_loaded,
                update.files_skipped, update.files_failed, update.rows_loaded, update.rows_rejected,
                update.segmentation_run_id, update.error, job_run_id,
            ),
        )  # fmt: skip
    conn.commit()


def record_finish(
    conn, job_run_id: int, update: JobRunUpdate, reconnect: Callable[[], object] | None = None
) -> bool:
    """finish_job_run that never raises: on a broken ``conn`` it tries once more on a new connection
    (``reconnect``); returns False (with a warning) when the end could not be recorded."""
    try:
        conn.rollback()
        finish_job_run(conn, job_run_id, update)
        return True
    except Exception as exc:
        first = exc
    if reconnect is not None:
        try:
            fresh = reconnect()
            try:
                finish_job_run(fresh, job_run_id, update)
                return True
            finally:
                fresh.close()
        except Exception as exc:
            first = exc
    log.warning("could not record the end of cycle %s in ops.job_runs: %s", job_run_id, str(first).strip())
    return False


def recent_job_runs(conn, limit: int = 10) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(
            """select job_run_id, command, started_at, finished_at, status, exit_code, files_loaded,
                      files_skipped, files_failed, rows_loaded, rows_rejected, step_seconds,
                      segmentation_run_id, error
               from ops.job_runs order by job_run_id desc limit %s""",
            (limit,),
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    conn.commit()
    return rows
