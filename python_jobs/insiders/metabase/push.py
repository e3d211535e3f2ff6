"""Push dashboards-as-code to Metabase, idempotently: compare, and write only what differs.

Objects are matched by name: a top-level collection by its name, cards and dashboards by their name
within that collection. A matched object is PUT only when its desired state differs from the current
one, so a second push of the same specs sends no write at all. The specs own what they describe: a
pushed dashboard has exactly the spec's cards (a card or text added by hand in Metabase is removed from
it, the card itself stays); a card in the collection that no spec names is left alone and reported.

Endpoints (Metabase ≥ 0.48, where ``PUT /api/dashboard/:id`` takes the full ``dashcards`` list, new
ones with negative ids): GET/POST /api/collection, GET /api/collection/:id/items, GET/POST/PUT
/api/card[/:id], GET/POST/PUT /api/dashboard[/:id], GET /api/database.

What Metabase does by hand that the push lives with (read in Metabase's source, enforced by the
stand-in tests/insiders/metabase/fake_metabase.py):

- tabs added to a pushed dashboard are kept (the specs do not describe tabs): every dashcard goes back
  with a ``dashboard_tab_id`` (its current tab, a new card the first tab), as Metabase requires once a
  dashboard has tabs;
- "dashboard questions" (0.53+: a card moved into its only dashboard) are hidden from a collection's
  items unless ``show_dashboard_questions=true``, so the push asks for them and updates them in place
  instead of creating duplicates; one the specs put on another dashboard is first moved back to the
  collection (``dashboard_id: null``), since Metabase trashes a dashboard question taken off its
  dashboard;
- a card's query is compared in both shapes Metabase answers with: legacy ``{"type": "native",
  "native": {"query": ...}}`` and MBQL 5 ``{"stages": [{"native": ...}]}``.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from insiders.errors import UserError
from insiders.logs import timed
from insiders.metabase.client import MetabaseClient, rows
from insiders.metabase.descriptions import load_model_docs, push_descriptions
from insiders.metabase.report import PushReport
from insiders.metabase.settings import MetabaseSettings
from insiders.metabase.spec import CardSpec, DashboardSpec, load_dashboards

log = logging.getLogger(__name__)

COLLECTION_DESCRIPTION = (
    "Dashboards as code: pushed by `insiders metabase push` from the project's metabase/*.yml; "
    "edits made here are overwritten by the next push."
)


# ------------------------------------------------------------------------------------ desired state
def collection_payload(name: str) -> dict[str, Any]:
    # `color` was required by older Metabase versions; newer ones ignore the key.
    return {"name": name, "description": COLLECTION_DESCRIPTION, "color": "#509EE3", "parent_id": None}


def card_payload(card: CardSpec, *, database_id: int, collection_id: int | None) -> dict[str, Any]:
    return {
        "name": card.name,
        "description": card.description.strip() or None,
        "display": card.display,
        "collection_id": collection_id,
        "dataset_query": {
            "type": "native",
            "native": {"query": card.sql, "template-tags": {}},
            "database": database_id,
        },
        "visualization_settings": dict(card.visualization_settings),
    }


def _native_query(dataset_query: Any) -> str | None:
    if not isinstance(dataset_query, dict):
        return None
    native = dataset_query.get("native")
    if isinstance(native, dict):  # legacy MBQL: {"type": "native", "native": {"query": ...}}
        return native.get("query")
    stages = dataset_query.get("stages")  # MBQL 5 (pMBQL) shape of newer versions
    if isinstance(stages, list) and len(stages) == 1 and isinstance(stages[0], dict):
        return stages[0].get("native")
    return None


def _card_state(card: dict[str, Any]) -> dict[str, Any]:
    """The fields a push owns, normalised so that Metabase's answer and a payload compare equal."""
    query = card.get("dataset_query") or {}
    return {
        "name": card.get("name"),
        "description": card.get("description") or "",
        "display": card.get("display"),
        "collection_id": card.get("collection_id"),
        "query": (_native_query(query) or "").strip(),
        "database": query.get("database") if isinstance(query, dict) else None,
        "visualization_settings": card.get("visualization_settings") or {},
    }


def _dashcard_key(dashcard: dict[str, Any]) -> tuple:
    return (
        dashcard.get("card_id"),
        dashcard.get("row"),
        dashcard.get("col"),
        dashcard.get("size_x"),
        dashcard.get("size_y"),
        json.dumps(dashcard.get("visualization_settings") or {}, sort_keys=True),
        dashcard.get("dashboard_tab_id"),
        len(dashcard.get("parameter_mappings") or []),
        len(dashcard.get("series") or []),
    )


def _dashboard_state(dashboard: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": dashboard.get("name"),
        "description": dashboard.get("description") or "",
        "collection_id": dashboard.get("collection_id"),
        "dashcards": sorted(map(_dashcard_key, dashboard.get("dashcards") or []), key=repr),
        "tabs": [(t["id"], t.get("name")) for t in sorted(dashboard.get("tabs") or [], key=_tab_order)],
    }


def dashboard_payload(
    spec: DashboardSpec,
    *,
    card_ids: dict[str, int | None],
    collection_id: int | None,
    current_dashcards: list[dict[str, Any]] = (),
    current_tabs: list[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The PUT body: every dashcard of the spec, reusing current dashcard ids (by card) and negative ids
    for new ones, and the dashboard's current ``tabs`` as they are (the frontend always sends tabs along
    with dashcards; a tab left out would be deleted). With tabs, every dashcard names one: its current
    tab, or the first tab for a new dashcard (Metabase answers 400 otherwise)."""
    tabs = [{"id": t["id"], "name": t["name"]} for t in sorted(current_tabs, key=_tab_order)]
    tab_ids = {t["id"] for t in tabs}
    reusable: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for dashcard in sorted(current_dashcards, key=lambda d: d["id"]):
        reusable[dashcard.get("card_id")].append(dashcard)
    dashcards, next_new = [], -1
    for card in spec.cards:
        card_id = card_ids[card.name]
        current = reusable[card_id].pop(0) if reusable.get(card_id) else None
        if current is not None:
            dashcard_id = current["id"]
        else:
            dashcard_id, next_new = next_new, next_new - 1
        dashcard = {
            "id": dashcard_id,
            "card_id": card_id,
            "row": card.layout.row,
            "col": card.layout.col,
            "size_x": card.layout.size_x,
            "size_y": card.layout.size_y,
            "parameter_mappings": [],
            "visualization_settings": {},
            "series": [],
        }
        if tabs:
            tab_id = (current or {}).get("dashboard_tab_id")
            dashcard["dashboard_tab_id"] = tab_id if tab_id in tab_ids else tabs[0]["id"]
        dashcards.append(dashcard)
    return {
        "name": spec.name,
        "description": spec.description.strip() or None,
        "collection_id": collection_id,
        "dashcards": dashcards,
        "tabs": tabs,
    }


def _tab_order(tab: dict[str, Any]) -> tuple:
    return (tab.get("position") if isinstance(tab.get("position"), int) else 0, tab["id"])


# -------------------------------------------------------------------------------- current state
def _by_name(items: list[dict[str, Any]], what: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for item in sorted(items, key=lambda i: i["id"]):
        if item["name"] in found:
            log.warning(
                "metabase: two %ss named %r (ids %s and %s); using the first",
                *(what, item["name"], found[item["name"]], item["id"]),
            )
            continue
        found[item["name"]] = item["id"]
    return found


def _collection_items(client: MetabaseClient, collection_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """Cards and dashboards of a collection by name, dashboard questions included (Metabase 0.53+ lists
    the cards that live in a dashboard only with ``show_dashboard_questions=true``; older versions
    ignore the parameter)."""
    items = rows(
        client.get(
            f"collection/{collection_id}/items",
            params={"models": ["card", "dashboard"], "show_dashboard_questions": "true"},
        )
    )
    cards = [i for i in items if i.get("model") == "card"]
    dashboards = [i for i in items if i.get("model") == "dashboard"]
    return _by_name(cards, "card"), _by_name(dashboards, "dashboard")


def _find_collection(collections: list[dict[str, Any]], name: str) -> int | None:
    matches = [
        c
        for c in collections
        if isinstance(c.get("id"), int)
        and c.get("name") == name
        and not c.get("archived")
        and c.get("personal_owner_id") is None
        and c.get("location", "/") == "/"
    ]
    return _by_name(matches, "collection").get(name)


# ---------------------------------------------------------------------------------------- push
def push_dashboards(
    client: MetabaseClient, specs: list[DashboardSpec], *, database_id: int, dry_run: bool = False
) -> PushReport:
    """Create or update the collections, cards and dashboards of ``specs``; a dry run writes nothing."""
    report = PushReport(dry_run=dry_run)
    collections = rows(client.get("collection"))
    by_collection: dict[str, list[DashboardSpec]] = defaultdict(list)
    for spec in specs:
        by_collection[spec.collection].append(spec)

    for collection_name, group in by_collection.items():
        collection_id = _find_collection(collections, collection_name)
        if collection_id is None:
            if not dry_run:
                collection_id = client.post("collection", collection_payload(collection_name))["id"]
                log.info("metabase: created collection %r (id %s)", collection_name, collection_id)
            report.add("collection", collection_name, "created", collection_id)
            existing_cards, existing_dashboards = {}, {}
        else:
            report.add("collection", collection_name, "unchanged", collection_id)
            existing_cards, existing_dashboards = _collection_items(client, collection_id)

        homes: dict[str, set[str]] = defaultdict(set)  # card name → the dashboards the specs put it on
        for spec in group:
            for card in spec.cards:
                homes[card.name].add(spec.name)
        card_ids: dict[str, int | None] = {}
        for spec in group:
            for card in spec.cards:
                if card.name in card_ids:
                    continue
                home = next(iter(homes[card.name])) if len(homes[card.name]) == 1 else None
                card_ids[card.name] = _push_card(
                    client,
                    card,
                    existing_cards.get(card.name),
                    database_id,
                    collection_id,
                    report,
                    home_dashboard_id=existing_dashboards.get(home) if home else None,
                )
        for spec in group:
            _push_dashboard(client, spec, existing_dashboards.get(spec.name), card_ids, collection_id, report)
        report.stray_cards += [
            f"{collection_name} / {name}" for name in existing_cards if name not in card_ids
        ]
    return report


def _push_card(
    client: MetabaseClient,
    card: CardSpec,
    card_id: int | None,
    database_id: int,
    collection_id: int | None,
    report: PushReport,
    *,
    home_dashboard_id: int | None = None,
) -> int | None:
    """Create or update one card. ``home_dashboard_id``: the existing dashboard the specs put the card on
    when they put it on exactly one; a dashboard question of any other dashboard is moved back to the
    collection (``dashboard_id: null``) before that dashboard drops it (which would trash it)."""
    payload = card_payload(card, database_id=database_id, collection_id=collection_id)
    if card_id is None:
        if not report.dry_run:
            card_id = client.post("card", payload)["id"]
            log.info("metabase: created card %r (id %s)", card.name, card_id)
        report.add("card", card.name, "created", card_id)
        return card_id
    current = client.get(f"card/{card_id}")
    in_dashboard = current.get("dashboard_id")
    if in_dashboard is not None and in_dashboard != home_dashboard_id:
        payload["dashboard_id"] = None
    elif _card_state(current) == _card_state(payload):
        report.add("card", card.name, "unchanged", card_id)
        return card_id
    if not report.dry_run:
        client.put(f"card/{card_id}", payload)
        log.info("metabase: updated card %r (id %s)", card.name, card_id)
    report.add("card", card.name, "updated", card_id)
    return card_id


def _push_dashboard(
    client: MetabaseClient,
    spec: DashboardSpec,
    dashboard_id: int | None,
    card_ids: dict[str, int | None],
    collection_id: int | None,
    report: PushReport,
) -> None:
    if dashboard_id is None:
        action = "created"
        if not report.dry_run:
            created = client.post(
                "dashboard",
                {
                    "name": spec.name,
                    "description": spec.description.strip() or None,
                    "collection_id": collection_id,
                    "parameters": [],
                },
            )
            dashboard_id = created["id"]
            client.put(
                f"dashboard/{dashboard_id}",
                dashboard_payload(spec, card_ids=card_ids, collection_id=collection_id),
            )
    else:
        current = client.get(f"dashboard/{dashboard_id}")
        payload = dashboard_payload(
            spec,
            card_ids=card_ids,
            collection_id=collection_id,
            current_dashcards=current.get("dashcards") or [],
            current_tabs=current.get("tabs") or [],
        )
        if _dashboard_state(current) == _dashboard_state(payload):
            action = "unchanged"
        else:
            action = "updated"
            if not report.dry_run:
                client.put(f"dashboard/{dashboard_id}", payload)
    if action != "unchanged":
        log.info("metabase: %s dashboard %r (id %s)", action, spec.name, dashboard_id)
    report.add("dashboard", spec.name, action, dashboard_id)
    if dashboard_id is not None:
        report.dashboard_urls[spec.name] = f"{client.base_url}/dashboard/{dashboard_id}"


# ------------------------------------------------------------------------------------ top level
def push(
    settings: MetabaseSettings | None = None,
    folder: Path | None = None,
    *,
    manifest: Path | None = None,
    dry_run: bool = False,
    client: MetabaseClient | None = None,
) -> PushReport:
    """Validate the specs of ``folder`` (default ``settings.folder``), then push them to the Metabase of
    ``settings`` (default: from INSIDERS_METABASE_* env vars). With ``manifest`` (dbt's
    target/manifest.json), also push the marts' model and column descriptions to Metabase's metadata."""
    if settings is None:
        try:
            settings = MetabaseSettings()
        except ValidationError as exc:
            raise UserError(f"invalid INSIDERS_METABASE_* settings: {' '.join(str(exc).split())}") from None
    specs = load_dashboards(folder or settings.folder)
    docs = load_model_docs(manifest) if manifest is not None else None
    owned = client is None
    client = client or MetabaseClient.from_settings(settings)
    try:
        with timed(log, "metabase push", dashboards=len(specs), dry_run=dry_run) as fields:
            database_id = client.database_id(settings.database)
            report = push_dashboards(client, specs, database_id=database_id, dry_run=dry_run)
            if docs is not None:
                push_descriptions(
                    client,
                    docs,
                    database_id=database_id,
                    report=report,
                    sync_timeout=settings.sync_timeout_seconds,
                )
            # not created=...: `created` is a LogRecord attribute, logging refuses it in `extra`
            fields.update(
                objects_created=report.created,
                objects_updated=report.updated,
                objects_unchanged=report.unchanged,
            )
    finally:
        if owned:
            client.close()
    return report
