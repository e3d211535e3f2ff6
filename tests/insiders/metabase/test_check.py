"""``explain_cards`` on a tiny schema made here: it reports what the spec regex cannot see.

The shipped cards themselves are run for real, as the BI role on the marts of the real file, in
tests/e2e/test_metabase_cards.py; this only checks the checker (fast, no dbt).
"""

from __future__ import annotations

import uuid

import pytest

from insiders.metabase import CardSpec, DashboardSpec
from insiders.metabase.check import explain_cards

LAYOUT = {"row": 0, "col": 0, "size_x": 6, "size_y": 3}


def dashboard(**cards: str) -> DashboardSpec:
    return DashboardSpec(
        name="Test",
        collection="Tests",
        cards=[CardSpec(name=name, display="table", layout=LAYOUT, sql=sql) for name, sql in cards.items()],
    )


@pytest.fixture
def tiny_marts(pg_conn):
    """marts.customers (granted to a read-only role) and marts.costs (not granted); yields the role."""
    role = f"check_bi_{uuid.uuid4().hex[:8]}"
    with pg_conn.cursor() as cur:
        cur.execute(
            f"""
            create schema marts;
            create table marts.customers (customer_id text, gross_revenue numeric, is_insider boolean);
            insert into marts.customers values ('1', 10, true), ('2', 5, false);
            create table marts.costs (customer_id text, cost numeric);
            create role {role} nologin;
            grant usage on schema marts to {role};
            grant select on marts.customers to {role};
            """
        )
    pg_conn.commit()
    yield role
    with pg_conn.cursor() as cur:
        cur.execute(f"drop owned by {role}; drop role {role}")
    pg_conn.commit()


def test_cards_that_plan_pass(pg_conn, tiny_marts):
    spec = dashboard(
        Count="select count(*) from marts.customers where is_insider",
        Share="select sum(gross_revenue) filter (where is_insider) / sum(gross_revenue) from marts.customers",
    )

    assert explain_cards(pg_conn, [spec]) == []
    assert explain_cards(pg_conn, [spec], role=tiny_marts) == []


def test_a_missing_column_or_relation_is_reported_per_card(pg_conn, tiny_marts):
    spec = dashboard(
        Good="select customer_id from marts.customers",
        Column="select returns_rate from marts.customers",
        Relation="select * from marts.segment_summary",
    )

    assert explain_cards(pg_conn, [spec]) == [
        'Test / Column: column "returns_rate" does not exist',
        'Test / Relation: relation "marts.segment_summary" does not exist',
    ]


def test_as_a_role_a_relation_it_may_not_read_is_reported(pg_conn, tiny_marts):
    spec = dashboard(
        Costs="select c.customer_id, cost from marts.customers c join marts.costs using (customer_id)"
    )

    assert explain_cards(pg_conn, [spec]) == []
    assert explain_cards(pg_conn, [spec], role=tiny_marts) == [
        "Test / Costs: permission denied for table costs"
    ]
    with pg_conn.cursor() as cur:  # the role was local to the card's transaction
        cur.execute("select current_user = session_user")
        assert cur.fetchone() == (True,)
