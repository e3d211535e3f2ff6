"""dbt descriptions → Metabase table and field descriptions, from a tiny manifest."""

from __future__ import annotations

import json

import pytest

from insiders.errors import UserError
from insiders.metabase import load_model_docs, push, push_descriptions

INSIDERS_DB = 2


def model(name: str, schema: str, description: str, columns: dict[str, str], *, custom_schema=None) -> dict:
    return {
        "resource_type": "model",
        "name": name,
        "alias": name,
        "schema": schema,
        "config": {"schema": custom_schema or schema},
        "description": description,
        "columns": {c: {"name": c, "description": d} for c, d in columns.items()},
    }


@pytest.fixture
def manifest(tmp_path):
    nodes = {
        "model.insiders.customer_features": model(
            "customer_features",
            "marts__build",  # built aside by the cycle, published into marts
            "One row per customer: RFM features.",
            {
                "customer_id": "The shop's customer id.",
                "gross_revenue": "Revenue before returns.",
                "items": "",
            },
            custom_schema="marts",
        ),
        "model.insiders.segment_summary": model(
            "segment_summary", "marts", "One row per segment.", {"segment_id": "Segment label."}
        ),
        "model.insiders.stg_shop__transactions": model(
            "stg_shop__transactions", "staging", "Staged transactions.", {"invoice_no": "Invoice."}
        ),
        "test.insiders.unique_x": {"resource_type": "test", "name": "unique_x"},
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"metadata": {}, "nodes": nodes}))
    return path


def test_load_model_docs_takes_the_marts_models(manifest):
    docs = {d.name: d for d in load_model_docs(manifest)}

    assert set(docs) == {"customer_features", "segment_summary"}
    assert docs["customer_features"].columns["gross_revenue"] == "Revenue before returns."


def test_descriptions_are_pushed_once(fake_metabase, client, manifest):
    features = fake_metabase.add_table(
        "Insiders", "marts", "customer_features", ["customer_id", "gross_revenue", "items"]
    )
    fake_metabase.add_table("Insiders", "staging", "stg_shop__transactions", ["invoice_no"])
    docs = load_model_docs(manifest)

    report = push_descriptions(client, docs, database_id=INSIDERS_DB, sync_timeout=0)

    assert features["description"] == "One row per customer: RFM features."
    described = {f["name"]: f["description"] for f in features["fields"]}
    assert described == {
        "customer_id": "The shop's customer id.",
        "gross_revenue": "Revenue before returns.",
        "items": None,  # no dbt description: left alone
    }
    assert (report.count("updated", "table"), report.count("updated", "field")) == (1, 2)
    assert report.missing_tables == ["marts.segment_summary"]  # not synced by Metabase yet
    assert all(t["description"] is None for t in fake_metabase.tables.values() if t["schema"] == "staging")

    puts = [w for w in fake_metabase.writes if w[0] == "PUT"]
    again = push_descriptions(client, docs, database_id=INSIDERS_DB, sync_timeout=0)
    assert again.updated == 0 and again.unchanged == 3
    assert [w for w in fake_metabase.writes if w[0] == "PUT"] == puts  # only a new sync request


def test_push_with_a_manifest_pushes_dashboards_and_descriptions(fake_metabase, settings, manifest):
    fake_metabase.add_table("Insiders", "marts", "segment_summary", ["segment_id"])

    report = push(settings, manifest=manifest)

    assert report.count("created", "dashboard") == 2
    assert report.count("updated", "field") == 1
    assert report.missing_tables == ["marts.customer_features"]


def test_a_missing_manifest_is_a_user_error(fake_metabase, settings, tmp_path):
    with pytest.raises(UserError, match="no dbt manifest at"):
        push(settings, manifest=tmp_path / "target" / "manifest.json")
    assert fake_metabase.requests == []
