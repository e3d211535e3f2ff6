"""Atomic publication of the marts: build into a side schema, then swap it in in one transaction.

Metabase reads ``marts``. A cycle builds every mart into ``marts__build``; only when all steps and
tests passed does ``publish`` rename ``marts`` away and ``marts__build`` into its place, in a single
transaction, so readers see either the previous complete set or the new complete set, never a mix.

Readers (the BI role) are granted on what is published only, by the schema owner inside the swap
transaction (no CREATEROLE needed): never on ``marts__build`` (untested marts, and locks there could
block the publish), and their rights on the old set are revoked as it is renamed away. The old set is
dropped after the swap, in its own short transaction: a BI query still reading it makes that drop
wait at most ``lock_timeout``, and the drop is then retried by the next cycle.

With ``lock_pid`` (the backend holding the cycle lock), both the drop of the build schema and the
swap check inside their transaction that the lock is still held: a cycle whose lock session died
(idle_session_timeout, failover) publishes nothing and drops nothing.
"""

from __future__ import annotations

import logging

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from insiders.errors import StepFailedError, UserError
from insiders.ops import CYCLE_LOCK_KEY

log = logging.getLogger(__name__)

LIVE_SCHEMA = "marts"
BUILD_SCHEMA = "marts__build"
OLD_SCHEMA = "marts__previous"


def _schema_exists(cur, name: str) -> bool:
    cur.execute("select 1 from pg_namespace where nspname = %s", (name,))
    return cur.fetchone() is not None


def _role_exists(cur, role: str) -> bool:
    cur.execute("select 1 from pg_roles where rolname = %s", (role,))
    return cur.fetchone() is not None


def check_reader(cur, role: str) -> None:
    """A BI role equal to the job's own role would give Metabase the right to write everything."""
    cur.execute("select current_user, session_user")
    if role in cur.fetchone():
        raise UserError(f"INSIDERS_BI_ROLE={role} is the job's own database role: choose another role")


def assert_lock_held(cur, lock_pid: int | None) -> None:
    """Inside a transaction: the cycle lock is still held by backend ``lock_pid``."""
    if lock_pid is None:
        return
    cur.execute(
        "select 1 from pg_locks where locktype = 'advisory' and granted and pid = %s "
        "and classid = 0 and objid = %s and objsubid = 1",
        (lock_pid, CYCLE_LOCK_KEY & 0xFFFFFFFF),
    )
    if cur.fetchone() is None:
        raise StepFailedError(
            "the cycle lock was lost (its database session ended: idle_session_timeout, failover?); "
            "nothing published, the marts are unchanged"
        )


def grant_published(cur, readers: list[str]) -> list[str]:
    """USAGE + SELECT on the live marts (and on tables created there later by a hand-run dbt) for each
    reader that exists; returns the readers granted. Needs only ownership of the schema."""
    granted = []
    for role in readers:
        check_reader(cur, role)
        if not _role_exists(cur, role):
            log.warning("BI role %s does not exist: a DBA runs `insiders bi grant` once", role)
            continue
        ident, live = sql.Identifier(role), sql.Identifier(LIVE_SCHEMA)
        for schema in (BUILD_SCHEMA, OLD_SCHEMA):
            if _schema_exists(cur, schema):
                cur.execute(sql.SQL("revoke all on schema {} from {}").format(sql.Identifier(schema), ident))
        if _schema_exists(cur, LIVE_SCHEMA):
            cur.execute(sql.SQL("grant usage on schema {} to {}").format(live, ident))
            cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(live, ident))
            default_select = sql.SQL("alter default privileges in schema {} grant select on tables to {}")
            cur.execute(default_select.format(live, ident))
        granted.append(role)
    return granted


def prepare_build_schema(conn, readers: list[str] | None = None, *, lock_pid: int | None = None) -> None:
    """Start from an empty build schema, readable by nobody but its owner until it is published.

    ``readers`` is accepted for callers of the earlier API and ignored: readers get what is published.
    """
    del readers
    with conn.cursor() as cur:
        assert_lock_held(cur, lock_pid)
        cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(BUILD_SCHEMA)))
        cur.execute(sql.SQL("create schema {}").format(sql.Identifier(BUILD_SCHEMA)))
    conn.commit()


def publish(
    conn,
    readers: list[str] | None = None,
    lock_timeout: str = "60s",
    *,
    lock_pid: int | None = None,
    job_run_id: int | None = None,
) -> None:
    """Swap the build schema in as the live marts, in one transaction; then drop the old set.

    Raises StepFailedError (exit 4, marts unchanged) when the locks are not had within ``lock_timeout``
    or the cycle lock was lost. With ``job_run_id`` the run is marked published in the same transaction.
    """
    _drop_old(conn, lock_timeout, before_swap=True)
    try:
        with conn.cursor() as cur:
            cur.execute("set local lock_timeout = %s", (lock_timeout,))
            assert_lock_held(cur, lock_pid)
            if not _schema_exists(cur, BUILD_SCHEMA):
                raise RuntimeError(f"nothing to publish: schema {BUILD_SCHEMA} does not exist")
            if _schema_exists(cur, LIVE_SCHEMA):
                cur.execute(
                    sql.SQL("alter schema {} rename to {}").format(
                        sql.Identifier(LIVE_SCHEMA), sql.Identifier(OLD_SCHEMA)
                    )
                )
            cur.execute(
                sql.SQL("alter schema {} rename to {}").format(
                    sql.Identifier(BUILD_SCHEMA), sql.Identifier(LIVE_SCHEMA)
                )
            )
            grant_published(cur, readers or [])
            if job_run_id is not None:
                cur.execute(
                    "update ops.job_runs set published_at = now() where job_run_id = %s", (job_run_id,)
                )
        conn.commit()
    except psycopg2.errors.LockNotAvailable as exc:
        conn.rollback()
        raise StepFailedError(
            f"publish: could not lock schema {LIVE_SCHEMA} within {lock_timeout} (long BI queries?); "
            "the published marts are unchanged"
        ) from exc
    except BaseException:
        conn.rollback()
        raise
    log.info("published %s as %s", BUILD_SCHEMA, LIVE_SCHEMA)
    try:
        _drop_old(conn, lock_timeout, before_swap=False)
    except psycopg2.Error as exc:  # the marts are out: a dropped connection here is only a warning
        log.warning("schema %s not dropped (%s); the next cycle drops it", OLD_SCHEMA, str(exc).strip())


def _drop_old(conn, lock_timeout: str, *, before_swap: bool) -> None:
    """Drop the previous set in its own transaction. After the swap a lock timeout is a warning (the
    marts are out; the next cycle drops it); before the swap it stops the publish (exit 4)."""
    try:
        with conn.cursor() as cur:
            cur.execute("set local lock_timeout = %s", (lock_timeout,))
            cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(OLD_SCHEMA)))
        conn.commit()
    except psycopg2.errors.LockNotAvailable as exc:
        conn.rollback()
        if before_swap:
            raise StepFailedError(
                f"publish: schema {OLD_SCHEMA} is still in use after {lock_timeout} (long BI queries?); "
                "the published marts are unchanged"
            ) from exc
        log.warning("schema %s is still in use; the next cycle drops it", OLD_SCHEMA)
