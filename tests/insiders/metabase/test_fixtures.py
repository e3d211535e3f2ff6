"""The pinned shapes of fixtures/ (real Metabase answers, see fixtures/README.md) hold the stand-in to
Metabase's shapes, and the push reads them: both card query shapes, the ``{"data": ...}`` wrappers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from insiders.metabase.client import rows
from insiders.metabase.push import _card_state, _dashboard_state, _native_query, dashboard_payload
from insiders.metabase.spec import CardSpec, DashboardSpec

from .fake_metabase import FakeMetabase

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def conforms(pinned, actual, where: str = "$") -> list[str]:
    """Where ``actual`` departs from the pinned shape: every pinned key present with the same JSON
    type (a pinned null accepts anything), every pinned list item matched by some actual item."""
    if pinned is None:
        return []
    if isinstance(pinned, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {type(actual).__name__}"]
        return [
            p
            for key, value in pinned.items()
            for p in conforms(value, actual.get(key, ...), f"{where}.{key}")
        ]
    if actual is ...:
        return [f"{where}: missing"]
    if isinstance(pinned, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {type(actual).__name__}"]
        return [
            f"{where}[{i}]: no item of this shape"
            for i, item in enumerate(pinned)
            if not any(not conforms(item, candidate) for candidate in actual)
        ]
    if type(pinned) is not type(actual) and not (
        type(pinned) in (int, float) and type(actual) in (int, float)
    ):
        return [f"{where}: expected {type(pinned).__name__}, got {type(actual).__name__}"]
    return []


def test_the_checker_can_fail():
    assert conforms({"data": [{"id": 1}]}, {"data": [{"id": "x"}]}) == ["$.data[0]: no item of this shape"]
    assert conforms({"total": 1}, {}) == ["$.total: missing"]
    assert conforms([{"a": 1}], {"data": []}) == ["$: expected a list, got dict"]


@pytest.fixture
def filled(client, fake_metabase):
    """The stand-in in the state the fixtures describe: a collection with a card (bar), a dashboard
    question, a dashboard with two tabs, a table with a sensitive field and a hidden table."""
    collection = client.post("collection", {"name": "Insiders", "color": "#509EE3"})
    query = {"type": "native", "native": {"query": "select 1", "template-tags": {}}, "database": 2}
    settings = {"graph.dimensions": ["segment_name"], "graph.metrics": ["customers"]}
    card = {"display": "bar", "visualization_settings": settings, "dataset_query": query}
    bar = client.post("card", {**card, "name": "Customers per segment", "collection_id": collection["id"]})
    other = client.post(
        "card",
        {
            **card,
            "name": "Insiders - customers",
            "description": "How many.",
            "collection_id": collection["id"],
        },
    )
    dashboard = client.post("dashboard", {"name": "Insiders", "collection_id": collection["id"]})
    place = {"row": 0, "col": 0, "size_x": 12, "size_y": 6}
    client.put(
        f"dashboard/{dashboard['id']}",
        {
            "tabs": [{"id": -1, "name": "Tab 1"}, {"id": -2, "name": "Tab 2"}],
            "dashcards": [
                {"id": -1, "card_id": bar["id"], "dashboard_tab_id": -1, **place},
                {"id": -2, "card_id": other["id"], "dashboard_tab_id": -2, **place},
            ],
        },
    )
    fake_metabase.move_into_dashboard(other["id"])
    features = fake_metabase.add_table("Insiders", "marts", "customer_features", ["customer_id", "email"])
    features["fields"][1]["visibility_type"] = "sensitive"
    fake_metabase.add_table("Insiders", "marts", "segment_summary", ["segment_id"], visibility_type="hidden")
    return {"collection": collection["id"], "card": bar["id"], "dashboard": dashboard["id"]}


def test_the_stand_in_answers_in_the_pinned_shapes(client, filled):
    answers = {
        "database_list.json": client.get("database"),
        "collection_list.json": client.get("collection"),
        "collection_items.json": client.get(
            f"collection/{filled['collection']}/items",
            params={"models": ["card", "dashboard"], "show_dashboard_questions": "true"},
        ),
        "card_native_legacy.json": client.get(f"card/{filled['card']}"),
        "dashboard_with_tabs.json": client.get(f"dashboard/{filled['dashboard']}"),
        "database_metadata.json": client.get("database/2/metadata", params={"include_hidden": "true"}),
        "sync_schema.json": client.post("database/2/sync_schema", None),
    }
    assert {name: conforms(fixture(name), answer) for name, answer in answers.items()} == {
        name: [] for name in answers
    }
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == sorted([*answers, "card_native_mbql5.json"])


def test_the_mbql5_stand_in_answers_in_the_pinned_mbql5_shape():
    fake = FakeMetabase(query_shape="mbql5")
    collection = fake._create_collection(query={}, body={"name": "Insiders"})
    card = fake._create_card(
        query={}, body={**fixture("card_native_legacy.json"), "collection_id": collection["id"]}
    )
    assert conforms(fixture("card_native_mbql5.json"), fake._get_card(card["id"], query={}, body=None)) == []


def test_both_card_query_shapes_read_as_the_same_card():
    legacy, mbql5 = fixture("card_native_legacy.json"), fixture("card_native_mbql5.json")
    sql = "select segment_name, customers from marts.segment_summary"

    assert _native_query(legacy["dataset_query"]) == _native_query(mbql5["dataset_query"]) == sql
    assert _card_state(legacy) == _card_state(mbql5)
    assert _card_state(legacy)["database"] == 2


def test_list_wrappers_are_unwrapped():
    assert [d["name"] for d in rows(fixture("database_list.json"))] == ["Sample Database", "Insiders"]
    assert [i["id"] for i in rows(fixture("collection_items.json"))] == [12, 13, 20]
    assert len(rows(fixture("collection_list.json"))) == 3  # a bare list stays a list
    assert rows(None) == [] and rows({"data": None}) == []


def test_a_pinned_tabbed_dashboard_reads_back_as_unchanged():
    current = fixture("dashboard_with_tabs.json")
    spec = DashboardSpec(
        name="Insiders",
        collection="Insiders",
        cards=[
            CardSpec(
                name="Customers per segment",
                display="bar",
                layout={"row": 0, "col": 0, "size_x": 12, "size_y": 6},
                sql="select segment_name, customers from marts.segment_summary",
            )
        ],
    )

    payload = dashboard_payload(
        spec,
        card_ids={"Customers per segment": 12},
        collection_id=3,
        current_dashcards=current["dashcards"],
        current_tabs=current["tabs"],
    )

    assert payload["tabs"] == [{"id": 31, "name": "Tab 1"}, {"id": 32, "name": "Tab 2"}]
    assert [(dc["id"], dc["dashboard_tab_id"]) for dc in payload["dashcards"]] == [(41, 31)]
    assert _dashboard_state(payload) == _dashboard_state(current)
