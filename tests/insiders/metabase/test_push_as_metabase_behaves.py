"""The push against what people (and Metabase itself) do to pushed objects, as the real Metabase
answers (the stand-in enforces each rule; see fake_metabase.py for where each is read in Metabase):
tabs added by hand, cards moved into their dashboard (0.53+ "dashboard questions"), hidden tables and
sensitive fields, marts Metabase has not synced yet, and cards read back in the MBQL 5 shape."""

from __future__ import annotations

import json

import pytest

from insiders.errors import UserError
from insiders.metabase import PushReport, load_dashboards, push, push_dashboards, push_descriptions
from insiders.metabase.descriptions import ModelDoc

from .conftest import SPECS
from .fake_metabase import FakeMetabase
from .test_push import INSIDERS_DB, n_cards, with_card


@pytest.fixture
def specs():
    return load_dashboards(SPECS)


def _dashboard(fake: FakeMetabase, name: str) -> dict:
    [dashboard] = [d for d in fake.dashboards.values() if d["name"] == name]
    return dashboard


def _add_tabs_by_hand(client, fake: FakeMetabase, name: str) -> dict:
    """What the dashboard editor sends when someone adds a tab: the existing cards go on "Tab 1", an
    empty "Tab 2" is created (new tabs have negative ids, like new dashcards)."""
    dashboard = _dashboard(fake, name)
    dashcards = [
        {**dc, "dashboard_tab_id": -1} for dc in client.get(f"dashboard/{dashboard['id']}")["dashcards"]
    ]
    client.put(
        f"dashboard/{dashboard['id']}",
        {"dashcards": dashcards, "tabs": [{"id": -1, "name": "Tab 1"}, {"id": -2, "name": "Tab 2"}]},
    )
    return dashboard


# ------------------------------------------------------------------------------------------ tabs
def test_the_stand_in_refuses_tabless_dashcards_once_a_dashboard_has_tabs(fake_metabase, client, specs):
    push_dashboards(client, specs, database_id=INSIDERS_DB)
    dashboard = _add_tabs_by_hand(client, fake_metabase, "Insiders")
    dashcards = [{k: v for k, v in dc.items() if k != "dashboard_tab_id"} for dc in dashboard["dashcards"]]

    with pytest.raises(UserError, match="HTTP 400: This dashboard has tab, makes sure every card has a tab"):
        client.put(f"dashboard/{dashboard['id']}", {"dashcards": dashcards, "tabs": []})


def test_a_dashboard_that_got_tabs_by_hand_is_still_pushed_and_keeps_them(fake_metabase, client, specs):
    push_dashboards(client, specs, database_id=INSIDERS_DB)
    dashboard = _add_tabs_by_hand(client, fake_metabase, "Insiders")
    tabs_before = [(t["id"], t["name"]) for t in dashboard["tabs"]]
    card = next(c for c in specs[0].cards if c.name == "Customers per segment")
    moved = with_card(specs, "Insiders", card.name, layout=card.layout.model_copy(update={"row": 60}))

    report = push_dashboards(client, moved, database_id=INSIDERS_DB)

    assert [(c.kind, c.name) for c in report.changes if c.action == "updated"] == [("dashboard", "Insiders")]
    assert [(t["id"], t["name"]) for t in dashboard["tabs"]] == tabs_before
    assert len(dashboard["dashcards"]) == len(specs[0].cards)
    assert {dc["dashboard_tab_id"] for dc in dashboard["dashcards"]} == {tabs_before[0][0]}
    assert 60 in {dc["row"] for dc in dashboard["dashcards"]}
    writes = len(fake_metabase.writes)
    assert push_dashboards(client, moved, database_id=INSIDERS_DB).updated == 0
    assert len(fake_metabase.writes) == writes


def test_cards_keep_the_tab_they_were_put_on_and_new_cards_go_on_the_first(fake_metabase, client, specs):
    push_dashboards(client, specs, database_id=INSIDERS_DB)
    dashboard = _add_tabs_by_hand(client, fake_metabase, "Insiders")
    first_tab, second_tab = (t["id"] for t in dashboard["tabs"])
    [card_id] = [c["id"] for c in fake_metabase.cards.values() if c["name"] == "Customers per segment"]
    dashcards = [
        {**dc, "dashboard_tab_id": second_tab if dc["card_id"] == card_id else first_tab}
        for dc in client.get(f"dashboard/{dashboard['id']}")["dashcards"]
    ]
    client.put(f"dashboard/{dashboard['id']}", {"dashcards": dashcards, "tabs": dashboard["tabs"]})
    new_card = (
        specs[0]
        .cards[0]
        .model_copy(
            update={"name": "A new card", "layout": specs[0].cards[0].layout.model_copy(update={"row": 80})}
        )
    )
    grown = [specs[0].model_copy(update={"cards": [*specs[0].cards, new_card]}), *specs[1:]]

    push_dashboards(client, grown, database_id=INSIDERS_DB)

    tab_of = {
        fake_metabase.cards[dc["card_id"]]["name"]: dc["dashboard_tab_id"] for dc in dashboard["dashcards"]
    }
    assert tab_of["Customers per segment"] == second_tab
    assert tab_of["A new card"] == first_tab
    assert len(dashboard["tabs"]) == 2


# ---------------------------------------------------------------------------- dashboard questions
def test_cards_moved_into_their_dashboard_are_found_not_duplicated(fake_metabase, client, specs):
    push_dashboards(client, specs, database_id=INSIDERS_DB)
    for card_id in list(fake_metabase.cards):
        fake_metabase.move_into_dashboard(card_id)  # every spec card is on exactly one dashboard
    writes = len(fake_metabase.writes)

    report = push_dashboards(client, specs, database_id=INSIDERS_DB)

    assert (report.created, report.updated) == (0, 0)
    assert len(fake_metabase.cards) == n_cards(specs)
    assert len(fake_metabase.writes) == writes
    assert report.stray_cards == []


def test_a_dashboard_question_the_specs_move_to_another_dashboard_is_not_trashed(
    fake_metabase, client, specs
):
    push_dashboards(client, specs, database_id=INSIDERS_DB)
    card = next(c for c in specs[0].cards if c.name == "Customers per segment")
    [card_id] = [c["id"] for c in fake_metabase.cards.values() if c["name"] == card.name]
    fake_metabase.move_into_dashboard(card_id)
    home = _dashboard(fake_metabase, "Insiders")
    assert fake_metabase.cards[card_id]["dashboard_id"] == home["id"]
    layout = card.layout.model_copy(update={"row": 90, "col": 0})
    moved = [
        specs[0].model_copy(update={"cards": [c for c in specs[0].cards if c.name != card.name]}),
        specs[1].model_copy(update={"cards": [*specs[1].cards, card.model_copy(update={"layout": layout})]}),
    ]

    push_dashboards(client, moved, database_id=INSIDERS_DB)

    assert not fake_metabase.cards[card_id]["archived"]
    assert fake_metabase.cards[card_id]["dashboard_id"] is None
    on = {
        d["name"]
        for d in fake_metabase.dashboards.values()
        if any(dc["card_id"] == card_id for dc in d["dashcards"])
    }
    assert on == {"Model health"}


# ------------------------------------------------------------------------------- descriptions
DOCS = [
    ModelDoc(
        "customer_features", "One row per customer.", {"customer_id": "The shop's id.", "email": "Contact."}
    ),
    ModelDoc("segment_summary", "One row per segment.", {"segment_id": "Segment label."}),
]


def test_hidden_tables_and_sensitive_fields_are_described_and_stay_hidden(fake_metabase, client):
    features = fake_metabase.add_table("Insiders", "marts", "customer_features", ["customer_id", "email"])
    features["fields"][1]["visibility_type"] = "sensitive"
    summary = fake_metabase.add_table(
        "Insiders", "marts", "segment_summary", ["segment_id"], visibility_type="hidden"
    )

    report = push_descriptions(client, DOCS, database_id=INSIDERS_DB, sync_timeout=0)

    assert report.missing_tables == [] and not report.sync_requested
    assert summary["description"] == "One row per segment." and summary["visibility_type"] == "hidden"
    email = features["fields"][1]
    assert (email["description"], email["visibility_type"]) == ("Contact.", "sensitive")
    assert ("POST", f"/api/database/{INSIDERS_DB}/sync_schema") not in fake_metabase.requests


def test_a_mart_metabase_has_not_synced_is_synced_then_described(fake_metabase, client):
    fake_metabase.add_table("Insiders", "marts", "customer_features", ["customer_id", "email"])
    summary = fake_metabase.add_table("Insiders", "marts", "segment_summary", ["segment_id"], synced=False)

    report = push_descriptions(client, DOCS, database_id=INSIDERS_DB, sync_timeout=5, poll_seconds=0.05)

    assert ("POST", f"/api/database/{INSIDERS_DB}/sync_schema") in fake_metabase.requests
    assert report.sync_requested and report.missing_tables == []
    assert summary["description"] == "One row per segment."
    assert summary["fields"][0]["description"] == "Segment label."
    assert "asked Metabase to sync the database schema (new tables)" in report.lines()


def test_a_new_column_of_a_known_mart_is_synced_then_described(fake_metabase, client):
    features = fake_metabase.add_table("Insiders", "marts", "customer_features", ["customer_id"])
    fake_metabase.add_table("Insiders", "marts", "segment_summary", ["segment_id"])
    fake_metabase.add_column(features, "email", synced=False)  # in the warehouse, not in Metabase yet

    report = push_descriptions(client, DOCS, database_id=INSIDERS_DB, sync_timeout=5, poll_seconds=0.05)

    assert report.sync_requested and report.missing_columns == []
    email = next(f for f in features["fields"] if f["name"] == "email")
    assert email["description"] == "Contact."


def test_a_mart_that_never_appears_is_reported_after_the_wait(fake_metabase, client):
    fake_metabase.add_table("Insiders", "marts", "customer_features", ["customer_id", "email"])

    report = push_descriptions(client, DOCS, database_id=INSIDERS_DB, sync_timeout=0.2, poll_seconds=0.05)

    assert report.sync_requested
    assert report.missing_tables == ["marts.segment_summary"]
    assert any("segment_summary is not in Metabase yet (push again" in line for line in report.lines())


def test_a_dry_run_asks_for_no_sync(fake_metabase, client):
    fake_metabase.add_table("Insiders", "marts", "segment_summary", ["segment_id"], synced=False)
    report = push_descriptions(client, DOCS, database_id=INSIDERS_DB, report=PushReport(dry_run=True))

    assert fake_metabase.writes == [] and not report.sync_requested
    assert sorted(report.missing_tables) == ["marts.customer_features", "marts.segment_summary"]


# ------------------------------------------------------------------------- MBQL 5 card shape
def test_cards_read_back_in_the_mbql5_shape_compare_equal(settings):
    fake = FakeMetabase(query_shape="mbql5").start()
    try:
        settings = settings.model_copy(update={"url": fake.url})
        push(settings)
        some_card = next(iter(fake.cards))
        answer = json.loads(json.dumps(fake._get_card(some_card, query={}, body=None)))
        assert "stages" in answer["dataset_query"]  # the stand-in does answer in the new shape
        writes = len(fake.writes)

        again = push(settings)

        assert (again.created, again.updated) == (0, 0)
        assert len(fake.writes) == writes
    finally:
        fake.stop()
