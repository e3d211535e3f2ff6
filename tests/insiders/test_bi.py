"""The BI role logs in, reads every mart, and can neither read nor write anything else."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from insiders.bi import ensure_bi_role, manage_bi_role
from insiders.errors import UserError
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

        # a new cycle publishes new tables: the publish grants what it swaps in
        _build_marts(pg_conn, 2, readers=[role])
        with pg_conn.cursor() as cur:
            cur.execute("create table marts__build.insiders as select 'c1'::text as customer_id")
        pg_conn.commit()
        publish(pg_conn, [role])
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


def _server_log(conn) -> Path:
    with conn.cursor() as cur:
        cur.execute("show data_directory")
        folder = Path(cur.fetchone()[0])
    conn.commit()
    log = folder / "server.log"  # the embedded server's log (pg_ctl -l)
    if not log.exists():
        pytest.skip("INSIDERS_TEST_DATABASE_URL: the server log is not on this machine")
    return log


def test_the_password_never_reaches_the_server_log_and_is_sent_only_when_it_changed(
    pg_conn, database_url, role
):
    log = _server_log(pg_conn)
    with pg_conn.cursor() as cur:
        cur.execute("set log_statement = 'all'")  # this session's statements all go to the server log
    pg_conn.commit()
    start = log.stat().st_size

    assert manage_bi_role(pg_conn, role, PASSWORD)
    assert manage_bi_role(pg_conn, role, PASSWORD)  # unchanged: nothing sent
    _as_role(database_url, role).close()
    new_password = "bi-test-password-2"
    assert manage_bi_role(pg_conn, role, new_password)
    psycopg2.connect(
        host=database_url.host,
        port=database_url.port,
        dbname=database_url.database,
        user=role,
        password=new_password,
    ).close()

    logged = log.read_bytes()[start:].decode(errors="replace")
    assert "alter role" in logged.lower()  # the log does record this session's statements
    assert PASSWORD not in logged
    assert new_password not in logged
    alters = [line for line in logged.splitlines() if "login password" in line.lower()]
    assert len(alters) == 2, alters  # the first call and the change, not the unchanged call
    assert all("SCRAM-SHA-256$" in line for line in alters)


@pytest.fixture
def job_role(pg_conn, database_url):
    """A job role as on a managed database: owns what it builds, no CREATEROLE, no superuser."""
    name = f"job_{uuid.uuid4().hex[:8]}"
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("create role {} login password %s").format(sql.Identifier(name)), (PASSWORD,))
        cur.execute(
            sql.SQL("grant create on database {} to {}").format(
                sql.Identifier(database_url.database), sql.Identifier(name)
            )
        )
    pg_conn.commit()
    conn = psycopg2.connect(
        host=database_url.host,
        port=database_url.port,
        dbname=database_url.database,
        user=name,
        password=PASSWORD,
    )
    yield conn
    conn.close()
    with pg_conn.cursor() as cur:
        pg_conn.rollback()
        cur.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
        cur.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))
    pg_conn.commit()


def test_a_dba_grants_once_and_every_later_swap_by_a_job_without_createrole_keeps_the_bi_role_reading(
    pg_conn, database_url, role, job_role
):
    _build_marts(job_role, 1)
    publish(job_role, [role])  # the role does not exist yet: published all the same
    assert not manage_bi_role(job_role, role, PASSWORD)  # no CREATEROLE: a warning, not a failure

    assert ensure_bi_role(pg_conn, role, PASSWORD)  # the DBA: `insiders bi grant`, once

    for value in (2, 3):  # the daily cycles of the job role (no CREATEROLE)
        assert manage_bi_role(job_role, role, PASSWORD)  # nothing to change: nothing sent, no warning
        _build_marts(job_role, value)
        publish(job_role, [role])
        bi = _as_role(database_url, role)
        try:
            with bi.cursor() as cur:
                cur.execute("select customers from marts.segment_summary")
                assert cur.fetchone() == (value,)
        finally:
            bi.close()


def test_the_bi_role_cannot_see_the_build_schema(pg_conn, database_url, role):
    _build_marts(pg_conn, 1)
    assert ensure_bi_role(pg_conn, role, PASSWORD)
    publish(pg_conn, [role])
    _build_marts(pg_conn, 2, readers=[role])  # the next cycle's untested marts
    bi = _as_role(database_url, role)
    try:
        assert _can(bi, "select customers from marts.segment_summary")
        assert not _can(bi, "select customers from marts__build.segment_summary")
        assert not _can(bi, "lock table marts__build.segment_summary in access share mode")
        with bi.cursor() as cur:
            cur.execute("select has_schema_privilege('marts__build', 'usage')")
            assert cur.fetchone() == (False,)
    finally:
        bi.close()


def test_role_names_are_quoted_as_identifiers(pg_conn, database_url):
    odd = f'bi "odd" {uuid.uuid4().hex[:4]}'
    try:
        _build_marts(pg_conn, 1)
        assert ensure_bi_role(pg_conn, odd, PASSWORD)
        _build_marts(pg_conn, 2)
        publish(pg_conn, [odd])
        bi = _as_role(database_url, odd)
        with bi.cursor() as cur:
            cur.execute("select customers from marts.segment_summary")
            assert cur.fetchone() == (2,)
        bi.close()
    finally:
        pg_conn.rollback()
        with pg_conn.cursor() as cur:
            cur.execute(sql.SQL("drop owned by {}").format(sql.Identifier(odd)))
            cur.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(odd)))
        pg_conn.commit()


def test_a_bi_role_equal_to_the_jobs_own_role_is_refused(pg_conn):
    with pg_conn.cursor() as cur:
        cur.execute("select current_user")
        own = cur.fetchone()[0]
    pg_conn.commit()
    _build_marts(pg_conn, 1)
    with pytest.raises(UserError, match="is the job's own database role"):
        manage_bi_role(pg_conn, own, PASSWORD)
    pg_conn.rollback()
    with pytest.raises(UserError, match="is the job's own database role"):
        publish(pg_conn, [own])
    with pg_conn.cursor() as cur:
        cur.execute("select to_regnamespace('marts__build') is not null, to_regnamespace('marts') is null")
        assert cur.fetchone() == (True, True)  # nothing was published
    pg_conn.commit()
