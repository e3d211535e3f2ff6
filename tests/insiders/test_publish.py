"""The publish under pressure: BI queries holding locks, a lost cycle lock."""

from __future__ import annotations

import time
import uuid

import psycopg2
import pytest
from psycopg2 import sql

from insiders import db, ops
from insiders.errors import StepFailedError
from insiders.ops import ensure_ops_schema
from insiders.publish import prepare_build_schema, publish

PASSWORD = "bi-test-password"


def _build(conn, value: int, *, lock_pid=None) -> None:
    prepare_build_schema(conn, lock_pid=lock_pid)
    with conn.cursor() as cur:
        cur.execute(f"create table marts__build.segment_summary as select {value} as customers")
    conn.commit()


def _live(conn):
    with conn.cursor() as cur:
        cur.execute("select customers from marts.segment_summary")
        value = cur.fetchone()[0]
    conn.commit()
    return value


def _schemas(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("select nspname from pg_namespace where nspname like 'marts%'")
        names = {r[0] for r in cur.fetchall()}
    conn.commit()
    return names


@pytest.fixture
def reader(pg_conn, database_url):
    """A BI session (Metabase) that can read the published marts."""
    role = f"bi_{uuid.uuid4().hex[:8]}"
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("create role {} login password %s").format(sql.Identifier(role)), (PASSWORD,))
    pg_conn.commit()
    conn = psycopg2.connect(
        host=database_url.host,
        port=database_url.port,
        dbname=database_url.database,
        user=role,
        password=PASSWORD,
    )
    yield role, conn
    conn.close()
    with pg_conn.cursor() as cur:
        pg_conn.rollback()
        cur.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
        cur.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
    pg_conn.commit()


def test_a_long_bi_query_neither_blocks_nor_breaks_the_swap(pg_conn, reader):
    role, bi = reader
    _build(pg_conn, 1)
    publish(pg_conn, [role])
    with bi.cursor() as cur:  # a dashboard query still running: holds a lock on the published table
        cur.execute("select customers from marts.segment_summary")
        assert cur.fetchone() == (1,)

    _build(pg_conn, 2)
    publish(pg_conn, [role], lock_timeout="1s")  # the swap goes through; the old set waits for its reader
    assert _live(pg_conn) == 2
    assert "marts__previous" in _schemas(pg_conn)
    bi.rollback()  # the query ends

    with bi.cursor() as cur:
        cur.execute("select customers from marts.segment_summary")
        assert cur.fetchone() == (2,)
    bi.rollback()
    _build(pg_conn, 3)
    publish(pg_conn, [role], lock_timeout="1s")
    assert _live(pg_conn) == 3
    assert "marts__previous" not in _schemas(pg_conn)  # dropped once nobody reads it


def test_a_lock_held_too_long_is_a_clear_error_with_exit_4_and_the_marts_unchanged(pg_conn, reader):
    role, bi = reader
    _build(pg_conn, 1)
    publish(pg_conn, [role])
    with bi.cursor() as cur:
        cur.execute("select customers from marts.segment_summary")
    _build(pg_conn, 2)
    publish(pg_conn, [role], lock_timeout="1s")  # the reader now holds marts__previous
    _build(pg_conn, 3)
    with pytest.raises(StepFailedError, match="still in use after 1s") as caught:
        publish(pg_conn, [role], lock_timeout="1s")
    assert caught.value.exit_code == 4
    assert _live(pg_conn) == 2
    assert "marts__build" in _schemas(pg_conn)
    bi.rollback()


def test_a_cycle_that_lost_its_lock_publishes_nothing_and_drops_nothing(pg_conn, database_url):
    ensure_ops_schema(pg_conn)
    first = db.connect_raw(database_url, keepalives=True)
    ops.acquire_cycle_lock(first)
    first_pid = first.get_backend_pid()
    _build(pg_conn, 1, lock_pid=first_pid)
    publish(pg_conn, lock_pid=first_pid)
    _build(pg_conn, 2, lock_pid=first_pid)

    with pg_conn.cursor() as cur:  # the server ends the idle lock session (idle_session_timeout, failover)
        cur.execute("select pg_terminate_backend(%s)", (first_pid,))
    pg_conn.commit()
    second = db.connect_raw(database_url)
    try:
        ops.acquire_cycle_lock(second)  # a second cycle gets the lock and builds
        with pytest.raises(StepFailedError, match="cycle lock was lost"):
            publish(pg_conn, lock_pid=first_pid)
        assert _live(pg_conn) == 1
        with pytest.raises(StepFailedError, match="cycle lock was lost"):
            prepare_build_schema(pg_conn, lock_pid=first_pid)
        with pg_conn.cursor() as cur:
            cur.execute("select customers from marts__build.segment_summary")  # not dropped
            assert cur.fetchone() == (2,)
        pg_conn.commit()
        publish(pg_conn, lock_pid=second.get_backend_pid())  # the lock holder publishes
        assert _live(pg_conn) == 2
    finally:
        second.close()
        first.close()


def test_the_lock_session_has_keepalives_and_outlives_the_servers_idle_timeout(database_url, pg_conn):
    with pg_conn.cursor() as cur:  # what a strict server imposes on idle sessions
        cur.execute(
            sql.SQL("alter database {} set idle_session_timeout = '1s'").format(
                sql.Identifier(database_url.database)
            )
        )
    pg_conn.commit()
    lock_conn = db.connect_raw(database_url, keepalives=True)
    try:
        params = lock_conn.get_dsn_parameters()
        assert (params["keepalives"], params["keepalives_idle"]) == ("1", "30")
        ops.acquire_cycle_lock(lock_conn)
        time.sleep(2.5)  # idle past the server's timeout, as while dbt builds on other connections
        assert ops.cycle_lock_is_held(lock_conn)
    finally:
        lock_conn.close()
