"""Every dashboard card's SQL, run for real as the read-only BI role on the marts built from the real file.

The issue's bar: "every card's SQL runs as the BI role against the marts built from the real file and
returns rows". The connection logs in as the role (its own user and password, as Metabase does), so a
card reading anything the role may not read fails here, not in front of marketing.
"""

from __future__ import annotations

import psycopg2
import pytest

from insiders.metabase import load_dashboards
from insiders.settings import PROJECT_ROOT

CARDS = [(d.name, c.name, c.sql) for d in load_dashboards(PROJECT_ROOT / "metabase") for c in d.cards]
PRIVATE_TABLES = ("raw.transactions", "ml.customer_segments", "ops.job_runs")


@pytest.fixture(scope="module")
def bi_conn(full_cycle):
    url, settings = full_cycle.url, full_cycle.settings
    conn = psycopg2.connect(
        host=url.host,
        port=url.port,
        dbname=url.database,
        user=settings.bi_role,
        password=settings.bi_password.get_secret_value(),
    )
    yield conn
    conn.close()


@pytest.mark.parametrize(("dashboard", "card", "sql"), CARDS, ids=[f"{d}/{c}" for d, c, _ in CARDS])
def test_card_runs_as_the_bi_role_and_returns_rows(bi_conn, dashboard, card, sql):
    try:
        with bi_conn.cursor() as cur:
            cur.execute("select current_user")
            assert cur.fetchone()[0] == bi_conn.info.user
            cur.execute(sql)
            rows = cur.fetchall()
    finally:
        bi_conn.rollback()

    assert rows, f"{dashboard} / {card} returned no rows"


def test_the_bi_role_cannot_read_raw_ml_or_ops_nor_write(full_cycle, bi_conn):
    for table in PRIVATE_TABLES:  # they exist (so a refusal is about rights, not a missing table)
        assert full_cycle.query(f"select count(*) > 0 from {table}") == [(True,)], table
        with pytest.raises(psycopg2.errors.InsufficientPrivilege), bi_conn.cursor() as cur:
            cur.execute(f"select 1 from {table} limit 1")
        bi_conn.rollback()

    refused = (psycopg2.errors.ReadOnlySqlTransaction, psycopg2.errors.InsufficientPrivilege)
    with pytest.raises(refused), bi_conn.cursor() as cur:
        cur.execute("delete from marts.insiders")
    bi_conn.rollback()
