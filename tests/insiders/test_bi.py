"""The BI role logs in, reads every mart, and can neither read nor write anything else."""

from __future__ import annotations

import uuid

import psycopg2
import pytest

from insiders.bi import ensure_bi_role
from insiders.load import ensure_raw_schema
from insiders.ops import ensure_ops_schema
from insiders.publish import prepare_build_schema, publish

PASSWORD = "bi-test-password"


@pytest.fixture
def role(pg_conn):
    name = f"bi_{uuid.uuid4().hex[:8]}"
    yield name
    with pg_conn.cursor() as cur:
        pg_conn.rollback()
        cur.execute(f'drop owned by "{name}"')
        cur.execute(f'drop role if exists "{name}"')
    pg_conn.commit()


def _build_marts(conn, value: int, readers=None) -> None:
    """What a cycle does: build into the side schema (then publish)."""
    prepare_build_schema(conn, readers)
    with conn.cursor() as cur:
        cur.execute(f"create table marts__build.segment_summary as select {value} as customers")
    conn.commit()


def _as_role(url, role):
    return psycopg2.connect(host=url.host, port=url.port, dbname=url.database, user=role, password=PASSWORD)


def _can(conn, statement: str) -> bool:
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
        conn.rollback()
        return True
    except psycopg2.Error:
        conn.rollback()
        return False


def test_bi_role_reads_marts_only_and_survives_publishing(pg_conn, database_url, role):
    ensure_raw_schema(pg_conn)
    ensure_ops_schema(pg_conn)
    with pg_conn.cursor() as cur:
        cur.execute("create schema ml; create table ml.customer_segments (customer_id text)")
        cur.execute("create schema staging; create view staging.v as select 1 as x")
    pg_conn.commit()
    _build_marts(pg_conn, 1)
    assert ensure_bi_role(pg_conn, role, PASSWORD)
    publish(pg_conn, [role])

    bi = _as_role(database_url, role)
    try:
        assert _can(bi, "select customers from marts.segment_summary")
        for private in ("raw.transactions", "raw.files", "ml.customer_segments", "ops.job_runs", "staging.v"):
            assert not _can(bi, f"select * from {private}"), private
        assert not _can(bi, "insert into marts.segment_summary values (2)")
        assert not _can(bi, "create table marts.mine (x int)")
        assert not _can(bi, "create table public.mine (x int)")

        # a new cycle publishes new tables: readable through the build schema's default privileges
        _build_marts(pg_conn, 2, readers=[role])
        with pg_conn.cursor() as cur:
            cur.execute("create table marts__build.insiders as select 'c1'::text as customer_id")
        pg_conn.commit()
        publish(pg_conn, [])
        bi.close()
        bi = _as_role(database_url, role)
        with bi.cursor() as cur:
            cur.execute("select customers from marts.segment_summary")
            assert cur.fetchone() == (2,)
            cur.execute("select customer_id from marts.insiders")
            assert cur.fetchone() == ("c1",)
    finally:
        bi.close()


def test_granting_twice_is_harmless(pg_conn, role):
    _build_marts(pg_conn, 1)
    publish(pg_conn)
    assert ensure_bi_role(pg_conn, role, PASSWORD)
    assert ensure_bi_role(pg_conn, role, PASSWORD)
    with pg_conn.cursor() as cur:
        cur.execute("select has_table_privilege(%s, 'marts.segment_summary', 'select')", (role,))
        assert cur.fetchone() == (True,)
    pg_conn.commit()
