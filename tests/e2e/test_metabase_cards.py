"""Every dashboard card's SQL, run as the read-only BI role on the marts built from the real file."""

from __future__ import annotations

import psycopg2
import pytest

from insiders.metabase import load_dashboards
from insiders.settings import PROJECT_ROOT

SPECS = load_dashboards(PROJECT_ROOT / "metabase")
CARDS = [(d.name, c.name, c.sql) for d in SPECS for c in d.cards]


@pytest.fixture(scope="module")
def bi_conn(full_cycle):
    url, settings = full_cycle.url, full_cycle.settings
    conn = psycopg2.connect(
        host=url.host, port=url.port, dbname=url.database, user=settings.bi_role,
        password=settings.bi_password.get_secret_value(),
    )  # fmt: skip
    yield conn
    conn.close()


@pytest.mark.parametrize(("dashboard", "card", "sql"), CARDS, ids=[f"{d}/{c}" for d, c, _ in CARDS])
def test_card_runs_as_the_bi_role_and_returns_rows(bi_conn, dashboard, card, sql):
    with bi_conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    bi_conn.rollback()
    assert rows, f"{dashboard} / {card} returned no rows"


def test_the_bi_role_cannot_read_raw_ml_or_ops(bi_conn):
    for table in ("raw.transactions", "ml.segmentation_runs", "ops.job_runs"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege), bi_conn.cursor() as cur:
            cur.execute(f"select 1 from {table} limit 1")
        bi_conn.rollback()
