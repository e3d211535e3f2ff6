"""Dashboards as code: the shipped specs load, and bad specs are refused with a clear error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from insiders.errors import UserError
from insiders.metabase import load_dashboards
from insiders.metabase.spec import marts_relations, sql_problems

from .conftest import SPECS

GOOD_CARD = """
  - name: Customers
    display: scalar
    layout: {row: 0, col: 0, size_x: 6, size_y: 3}
    sql: select count(*) as customers from marts.customer_features
"""


def write_spec(
    folder: Path, name: str, cards: str, *, dashboard: str = "Test", collection: str = "Tests"
) -> Path:
    path = folder / name
    cards = textwrap.dedent(cards) if cards.startswith("\n") else f" {cards}"
    path.write_text(f"name: {dashboard}\ncollection: {collection}\ncards:{cards}\n")
    return path


def test_the_shipped_specs_load_and_read_only_marts():
    specs = load_dashboards(SPECS)

    assert [s.name for s in specs] == ["Insiders", "Model health"]
    assert {s.collection for s in specs} == {"Insiders"}
    for spec in specs:
        assert spec.description
        for card in spec.cards:
            assert card.description, f"{spec.name} / {card.name} has no description"
            assert "marts." in card.sql
            assert sql_problems(card.sql) == []


def test_the_insiders_dashboard_covers_the_brief():
    insiders = {s.name: s for s in load_dashboards(SPECS)}["Insiders"]
    text = " ".join(f"{c.name} {c.sql}" for c in insiders.cards).lower()
    for topic in (
        "who",
        "customers",
        "revenue",
        "profile",
        "entry",
        "exit",
        "forecast",
        "backtest",
        "control",
    ):
        assert topic in text, topic
    assert "playbook" in text and "recommended_action" in text


def test_a_card_reading_raw_is_refused_naming_file_card_and_relation(tmp_path):
    path = write_spec(
        tmp_path,
        "bad.yml",
        """
        - name: Sneaky
          display: table
          layout: {row: 0, col: 0, size_x: 6, size_y: 3}
          sql: select * from marts.customer_features f join raw.transactions t using (customer_id)
        """,
    )

    with pytest.raises(UserError) as caught:
        load_dashboards(tmp_path)

    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message and "'Sneaky'" in message
    assert "raw.transactions" in message and "only marts.*" in message


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("select * from raw.transactions", "reads raw.transactions"),
        ('select * from "staging"."stg_shop__transactions"', "reads staging.stg_shop__transactions"),
        ("select * from marts.a, ml.customer_segments", "reads ml.customer_segments"),
        ("select * from marts.a where id in (select id from ops.job_runs)", "reads ops.job_runs"),
        ("select * from marts__build.customer_features", "reads marts__build.customer_features"),
        ("select * from intermediate.int_purchase_lines", "reads intermediate.int_purchase_lines"),
        ("select * from analytics.customer_features", "reads analytics.customer_features"),
        ("select * from customer_features", "without a schema"),
        ("select 1 from marts.a; drop table marts.a", "contains ';'"),
        ("select 1 from marts.a;", "contains ';'"),
        ("delete from marts.customer_features", "not a select"),
    ],
)
def test_sql_problems_are_found(sql, problem):
    problems = sql_problems(sql)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    "sql",
    [
        "select * from marts.customer_features",
        'select * from "marts"."segment_summary"',
        "with top as (select * from marts.insiders) select * from top join marts.customer_features using (c)",
        "select extract(day from started_at), substring(status from 1 for 3) from marts.segmentation_runs",
        "select * from marts.segment_flows where from_segment is distinct from to_segment",
        "select x from marts.a cross join lateral (select 1 as x) as l",
        "select * from marts.a, unnest(array[1, 2]) as n",
        "select 'raw.transactions; nope' as label, 1 from marts.a -- from raw.transactions;",
        "select /* from raw.transactions */ 1 from marts.a",
    ],
)
def test_sql_on_marts_only_passes(sql):
    assert sql_problems(sql) == []


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        (GOOD_CARD + GOOD_CARD.replace("col: 0", "col: 6"), "two cards are named 'Customers'"),
        (GOOD_CARD + GOOD_CARD.replace("Customers\n", "Other\n").replace("col: 0", "col: 3"), "overlap"),
        (GOOD_CARD.replace("col: 0", "col: 20"), "exceeds the 24-column grid"),
        (GOOD_CARD.replace("scalar", "sparkline"), "display"),
        (GOOD_CARD.replace("    sql:", "    sq1:"), "cards.0.sql ('Customers'): Field required"),
        ("[]", "cards: List should have at least 1 item"),
    ],
)
def test_malformed_specs_are_refused(tmp_path, cards, expected):
    write_spec(tmp_path, "bad.yml", cards)

    with pytest.raises(UserError, match="bad.yml") as caught:
        load_dashboards(tmp_path)

    assert expected in str(caught.value)


def test_invalid_yaml_is_one_clear_line(tmp_path):
    (tmp_path / "broken.yml").write_text("name: [unclosed\ncards: {\n")

    with pytest.raises(UserError, match=r"broken.yml: invalid YAML \(line 2, column 6\): ") as caught:
        load_dashboards(tmp_path)

    assert "\n" not in str(caught.value)


def test_card_names_are_unique_within_a_collection(tmp_path):
    write_spec(tmp_path, "a.yml", GOOD_CARD, dashboard="A")
    write_spec(tmp_path, "b.yml", GOOD_CARD, dashboard="B")

    with pytest.raises(UserError, match="card 'Customers' is also in .*a.yml, same collection 'Tests'"):
        load_dashboards(tmp_path)

    write_spec(tmp_path, "b.yml", GOOD_CARD, dashboard="B", collection="Elsewhere")
    assert [s.name for s in load_dashboards(tmp_path)] == ["A", "B"]


def test_dashboard_names_are_unique_within_a_collection(tmp_path):
    write_spec(tmp_path, "a.yml", GOOD_CARD, dashboard="Same")
    write_spec(tmp_path, "b.yml", GOOD_CARD.replace("Customers", "Others"), dashboard="Same")

    with pytest.raises(UserError, match="dashboard 'Same' is also defined in"):
        load_dashboards(tmp_path)


def test_a_folder_without_specs_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no dashboard specs"):
        load_dashboards(tmp_path)
    with pytest.raises(UserError, match="no dashboard folder"):
        load_dashboards(tmp_path / "missing")


def test_marts_relations_lists_the_marts_a_card_reads():
    sql = """
        with recent as (select * from marts.segmentation_runs where purpose = 'from marts.raw_text')
        select * from recent
        join "marts"."Segment_Flows" using (run_id)  -- from marts.commented_out
        left join marts.insiders as i on true
        where exists (select 1 from marts.insider_exits) and extract(day from started_at) > 1
    """
    assert marts_relations(sql) == {"segmentation_runs", "Segment_Flows", "insiders", "insider_exits"}
