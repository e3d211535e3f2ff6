"""Pushing the dashboards to a (stand-in) Metabase: create, then change nothing, then update in place."""

from __future__ import annotations

import logging

import pytest

from insiders.errors import UserError
from insiders.metabase import load_dashboards, push, push_dashboards

from .conftest import SPECS

INSIDERS_DB = 2  # the fake's databases: 1 = "Sample Database", 2 = "Insiders"


@pytest.fixture
def specs():
    return load_dashboards(SPECS)


def n_cards(specs) -> int:
    return sum(len(s.cards) for s in specs)


def with_card(specs, dashboard: str, card: str, **changes):
    """The specs with one card changed (specs are immutable)."""
    out = []
    for spec in specs:
        if spec.name == dashboard:
            cards = [c.model_copy(update=changes) if c.name == card else c for c in spec.cards]
            spec = spec.model_copy(update={"cards": cards})
        out.append(spec)
    return out


def test_first_push_creates_collection_cards_and_dashboards(fake_metabase, client, specs):
    report = push_dashboards(client, specs, database_id=INSIDERS_DB)

    assert (report.count("created", "collection"), report.count("created", "dashboard")) == (1, 2)
    assert report.count("created", "card") == n_cards(specs)
    assert report.updated == report.unchanged == 0

    [collection] = [c for c in fake_metabase.collections.values() if c["name"] == "Insiders"]
    assert collection["location"] == "/"
    by_name = {c["name"]: c for c in fake_metabase.cards.values()}
    assert len(by_name) == n_cards(specs)
    for spec in specs:
        for card in spec.cards:
            created = by_name[card.name]
            assert created["collection_id"] == collection["id"]
            assert created["display"] == card.display
            assert created["dataset_query"] == {
                "type": "native",
                "native": {"query": card.sql, "template-tags": {}},
                "database": INSIDERS_DB,
            }
    dashboards = {d["name"]: d for d in fake_metabase.dashboards.values()}
    assert set(dashboards) == {"Insiders", "Model health"}
    for spec in specs:
        dashcards = dashboards[spec.name]["dashcards"]
        placed = {(dc["card_id"], dc["row"], dc["col"], dc["size_x"], dc["size_y"]) for dc in dashcards}
        assert placed == {
            (by_name[c.name]["id"], c.layout.row, c.layout.col, c.layout.size_x, c.layout.size_y)
            for c in spec.cards
        }
        assert all(dc["id"] > 0 for dc in dashcards)
        assert (
            report.dashboard_urls[spec.name] == f"{fake_metabase.url}/dashboard/{dashboards[spec.name]['id']}"
        )


def test_second_push_changes_nothing_and_writes_nothing(fake_metabase, client, specs):
    push_dashboards(client, specs, database_id=INSIDERS_DB)
    writes_after_first = len(fake_metabase.writes)
    assert writes_after_first > 0

    report = push_dashboards(client, specs, database_id=INSIDERS_DB)

    assert (report.created, report.updated) == (0, 0)
    assert report.unchanged == 1 + n_cards(specs) + len(specs)
    assert len(fake_metabase.writes) == writes_after_first
    assert "0 created" not in report.summary() and "unchanged" in report.summary()


def test_changed_sql_updates_the_card_in_place(fake_metabase, client, specs):
    push_dashboards(client, specs, database_id=INSIDERS_DB)
    [card_id] = [c["id"] for c in fake_metabase.cards.values() if c["name"] == "Insiders - customers"]
    dashcards_before = {d["name"]: d["dashcards"] for d in fake_metabase.dashboards.values()}
    new_sql = "select count(*) as insiders from marts.insiders"
    changed = with_card(specs, "Insiders", "Insiders - customers", sql=new_sql)

    report = push_dashboards(client, changed, database_id=INSIDERS_DB)

    assert [(c.kind, c.name, c.id) for c in report.changes if c.action == "updated"] == [
        ("card", "Insiders - customers", card_id)
    ]
    assert report.created == 0
    assert fake_metabase.cards[card_id]["dataset_query"]["native"]["query"] == new_sql
    assert len(fake_metabase.cards) == n_cards(specs)
    assert {d["name"]: d["dashcards"] for d in fake_metabase.dashboards.values()} == dashcards_before
    assert fake_metabase.writes[-1] == ("PUT", f"/api/card/{card_id}")


def test_a_moved_card_updates_the_dashboard_keeping_dashcard_ids(fake_metabase, client, specs):
    push_dashboards(client, specs, database_id=INSIDERS_DB)
    [dashboard] = [d for d in fake_metabase.dashboards.values() if d["name"] == "Model health"]
    ids_before = sorted(dc["id"] for dc in dashboard["dashcards"])
    card = next(c for c in specs[1].cards if c.name == "Data quality per file")
    moved = with_card(specs, "Model health", card.name, layout=card.layout.model_copy(update={"row": 30}))

    report = push_dashboards(client, moved, database_id=INSIDERS_DB)

    assert [(c.kind, c.name) for c in report.changes if c.action == "updated"] == [
        ("dashboard", "Model health")
    ]
    assert sorted(dc["id"] for dc in fake_metabase.dashboards[dashboard["id"]]["dashcards"]) == ids_before
    assert {dc["row"] for dc in fake_metabase.dashboards[dashboard["id"]]["dashcards"]} >= {30}
    assert push_dashboards(client, moved, database_id=INSIDERS_DB).updated == 0


def test_hand_edits_in_metabase_are_reverted_and_stray_cards_reported(fake_metabase, client, specs):
    push_dashboards(client, specs, database_id=INSIDERS_DB)
    [card_id] = [c["id"] for c in fake_metabase.cards.values() if c["name"] == "Customers per segment"]
    [dashboard_id] = [d["id"] for d in fake_metabase.dashboards.values() if d["name"] == "Insiders"]
    client.put(f"card/{card_id}", {"display": "line", "description": "edited by hand"})
    client.put(
        f"dashboard/{dashboard_id}",
        {
            "dashcards": [{"id": -1, "card_id": None, "row": 40, "col": 0, "size_x": 4, "size_y": 2}],
            "tabs": [],
        },
    )
    [collection_id] = [c["id"] for c in fake_metabase.collections.values() if c["name"] == "Insiders"]
    client.post(
        "card",
        {
            "name": "Someone's question",
            "display": "table",
            "collection_id": collection_id,
            "visualization_settings": {},
            "dataset_query": {"type": "native", "native": {"query": "select 1"}, "database": INSIDERS_DB},
        },
    )

    report = push_dashboards(client, specs, database_id=INSIDERS_DB)

    assert {(c.kind, c.name) for c in report.changes if c.action == "updated"} == {
        ("card", "Customers per segment"),
        ("dashboard", "Insiders"),
    }
    assert fake_metabase.cards[card_id]["display"] == "bar"
    assert len(fake_metabase.dashboards[dashboard_id]["dashcards"]) == len(specs[0].cards)
    assert report.stray_cards == ["Insiders / Someone's question"]


def test_dry_run_writes_nothing(fake_metabase, client, specs):
    report = push_dashboards(client, specs, database_id=INSIDERS_DB, dry_run=True)

    assert fake_metabase.writes == []
    assert report.count("created", "card") == n_cards(specs)
    assert report.summary().startswith("dry run, nothing written: ")
    assert any(line.startswith("would create dashboard 'Insiders'") for line in report.lines())

    push_dashboards(client, specs, database_id=INSIDERS_DB)
    changed = with_card(specs, "Insiders", "Customers per segment", display="row")
    writes = len(fake_metabase.writes)
    dry = push_dashboards(client, changed, database_id=INSIDERS_DB, dry_run=True)
    assert dry.updated == 1 and len(fake_metabase.writes) == writes


def test_push_from_env_settings(fake_metabase, monkeypatch):
    for name in ("USERNAME", "PASSWORD", "API_KEY", "URL", "DATABASE", "FOLDER"):
        monkeypatch.delenv(f"INSIDERS_METABASE_{name}", raising=False)
    monkeypatch.setenv("INSIDERS_METABASE_URL", fake_metabase.url + "/")
    monkeypatch.setenv("INSIDERS_METABASE_API_KEY", fake_metabase.api_key)

    report = push(folder=SPECS)

    assert report.count("created", "dashboard") == 2
    assert all(c["dataset_query"]["database"] == INSIDERS_DB for c in fake_metabase.cards.values())
    assert push(folder=SPECS).updated == 0


def test_unknown_database_name_is_a_user_error(fake_metabase, settings):
    settings = settings.model_copy(update={"database": "Warehouse"})

    with pytest.raises(UserError, match="no database named 'Warehouse' .*'Sample Database', 'Insiders'"):
        push(settings)
    assert fake_metabase.writes == []


def test_invalid_specs_stop_before_any_request(fake_metabase, settings, tmp_path):
    (tmp_path / "bad.yml").write_text("name: X\ncollection: Y\ncards: []\n")

    with pytest.raises(UserError, match="bad.yml"):
        push(settings, tmp_path)
    assert fake_metabase.requests == []


def test_a_push_logs_its_counts_when_info_is_on(fake_metabase, settings, caplog):
    caplog.set_level(logging.INFO)  # as the CLI sets it

    report = push(settings)

    [done] = [r for r in caplog.records if r.getMessage().startswith("metabase push: done")]
    assert f"objects_created={report.created}" in done.getMessage()
