"""A stand-in Metabase for the tests: a tiny in-memory HTTP server on 127.0.0.1 (random port).

No Metabase server can run here (no internet, no docker), so the push is tested against this. It
implements only the endpoints ``insiders.metabase`` uses, with the JSON shapes and errors of Metabase
v0.50 (the first API docs where ``PUT /api/dashboard/:id`` takes ``dashcards`` + ``tabs``, since 0.48):

- auth: ``x-api-key`` header, or ``POST /api/session`` {username, password} → {"id": token} then the
  ``X-Metabase-Session`` header; anything else gets 401 with the text body ``Unauthenticated``;
- ``GET /api/database`` ({"data": [...], "total": n}), ``GET /api/database/:id/metadata``,
  ``POST /api/database/:id/sync_schema``;
- ``GET/POST /api/collection`` (the list holds the "root" pseudo-collection and a personal one),
  ``GET /api/collection/:id/items?models=...`` ({"data": [...], "total": n, "models": [...]});
- ``GET/POST /api/card``, ``GET/PUT /api/card/:id`` (native ``dataset_query``);
- ``POST /api/dashboard``, ``GET/PUT /api/dashboard/:id``: PUT replaces the whole ``dashcards`` list
  (negative ids create, missing ones are deleted) and ``tabs``;
- ``PUT /api/table/:id``, ``PUT /api/field/:id`` (descriptions).

Rules of the real Metabase that a push must live with (each read in Metabase's source, cited where it
is enforced below):

- tabs: once a dashboard has tabs, every dashcard of a ``PUT /api/dashboard/:id`` needs a
  ``dashboard_tab_id`` naming a tab of that PUT, else 400 "This dashboard has tab, makes sure every
  card has a tab"; tabs left out of the PUT are deleted with their dashcards;
- dashboard questions (0.53+): a card with a ``dashboard_id`` lives in its dashboard, is hidden from
  ``/api/collection/:id/items`` unless ``show_dashboard_questions=true``, must keep its dashboard's
  collection, and goes to the trash when it is taken off its dashboard;
- ``/api/database/:id/metadata`` leaves out hidden tables (any ``visibility_type``) and sensitive
  fields unless ``include_hidden=true``; tables created since the last sync appear only after
  ``POST /api/database/:id/sync_schema`` (which answers at once and syncs in the background: here the
  tables appear at the next metadata read);
- ``query_shape="mbql5"`` answers cards in the MBQL 5 (``stages``) shape of newer versions, as
  pinned in tests/insiders/metabase/fixtures/.

Every request is recorded in ``requests``; ``writes`` are the POST/PUT ones other than logins. It is a
stand-in, not an emulator: it validates what a real Metabase would refuse for these calls (missing
fields, unknown ids, duplicate dashcard ids, the rules above), nothing more. Where versions differ it
takes the stricter one (0.47-0.52 refuse tab-less dashcards whenever the dashboard *has* tabs; later
versions put them on the single tab when the PUT has exactly one).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

METABASE_VERSION = "v0.50.0"


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status, body)
        self.status, self.body = status, body


def _not_found() -> ApiError:
    return ApiError(404, "Not found.")


def _flag(query: dict[str, list[str]], name: str) -> bool:
    """A boolean query parameter as Metabase reads it (ms/BooleanValue: "true"/"false")."""
    return (query.get(name) or ["false"])[-1].lower() == "true"


def _invalid(**errors: str) -> ApiError:
    return ApiError(400, {"errors": errors, "specific-errors": {k: [v] for k, v in errors.items()}})


class FakeMetabase:
    def __init__(
        self,
        *,
        api_key: str = "mb_test_api_key",
        username: str = "admin@example.com",
        password: str = "correct horse battery staple",
        databases: tuple[str, ...] = ("Sample Database", "Insiders"),
        query_shape: str = "legacy",
    ) -> None:
        assert query_shape in ("legacy", "mbql5"), query_shape
        self.query_shape = query_shape
        self.api_key, self.username, self.password = api_key, username, password
        self.sessions: set[str] = set()
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.databases = {i: {"id": i, "name": n, "engine": "postgres"} for i, n in enumerate(databases, 1)}
        self.tables: dict[int, dict] = {}  # id → table with "fields", "db_id"
        self.fields: dict[int, dict] = {}
        self.unsynced_tables: list[dict] = []  # in the warehouse, not yet seen by a sync
        self.unsynced_fields: list[tuple[dict, dict]] = []  # (table, field) likewise
        self.sync_requested: set[int] = set()  # databases a sync_schema was asked for (pending)
        personal = self._new_id()
        self.collections: dict[int, dict] = {
            personal: {
                "id": personal,
                "name": "Admin's Personal Collection",
                "location": "/",
                "personal_owner_id": 1,
                "archived": False,
            }
        }
        self.cards: dict[int, dict] = {}
        self.dashboards: dict[int, dict] = {}
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------------------ server control
    def start(self) -> FakeMetabase:
        fake = self

        class Handler(_Handler):
            metabase = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.requests if m in {"POST", "PUT", "DELETE"} and p != "/api/session"]

    # --------------------------------------------------------------------------------- test setup
    def _new_id(self) -> int:
        return next(self._ids)

    def add_table(
        self,
        database: str,
        schema: str,
        name: str,
        fields: list[str],
        *,
        visibility_type: str | None = None,
        synced: bool = True,
    ) -> dict:
        """A table of the warehouse: synced (Metabase knows it) or not yet (it appears after a
        sync_schema). ``visibility_type``: None, "hidden", "technical" or "cruft" (Admin > Table Metadata)."""
        db_id = next(i for i, d in self.databases.items() if d["name"] == database)
        table = {
            "id": self._new_id(),
            "db_id": db_id,
            "schema": schema,
            "name": name,
            "display_name": name.replace("_", " ").title(),
            "description": None,
            "visibility_type": visibility_type,
            "active": True,
        }
        table["fields"] = []
        for field_name in fields:
            table["fields"].append(self._new_field(table, field_name))
        if synced:
            self._register_table(table)
        else:
            self.unsynced_tables.append(table)
        return table

    def _new_field(self, table: dict, name: str) -> dict:
        return {
            "id": self._new_id(),
            "table_id": table["id"],
            "name": name,
            "display_name": name.replace("_", " ").title(),
            "description": None,
            "visibility_type": "normal",
            "semantic_type": None,
            "fk_target_field_id": None,
        }

    def add_column(self, table: dict, name: str, *, synced: bool = True) -> dict:
        """A new column of a table: known at once, or after the next sync_schema."""
        field = self._new_field(table, name)
        if synced:
            table["fields"].append(field)
            self.fields[field["id"]] = field
        else:
            self.unsynced_fields.append((table, field))
        return field

    def _register_table(self, table: dict) -> None:
        self.tables[table["id"]] = table
        for field in table["fields"]:
            self.fields[field["id"]] = field

    def move_into_dashboard(self, card_id: int) -> None:
        """What Metabase 0.53+ does when a card used by exactly one dashboard is moved into it (the
        "Move to dashboard" action, or the bulk move it offers): the card becomes a dashboard question."""
        dashboards = [
            d for d in self.dashboards.values() if any(dc["card_id"] == card_id for dc in d["dashcards"])
        ]
        assert len(dashboards) == 1, f"card {card_id} is on {len(dashboards)} dashboards"
        self.cards[card_id].update(
            dashboard_id=dashboards[0]["id"], collection_id=dashboards[0]["collection_id"]
        )

    # ------------------------------------------------------------------------------------ routing
    def handle(self, method: str, path: str, query: dict[str, list[str]], headers, body: Any) -> Any:
        with self._lock:
            if (method, path) == ("POST", "/api/session"):
                return self._login(body)
            key, token = headers.get("x-api-key"), headers.get("X-Metabase-Session")
            if not ((key and key == self.api_key) or (token and token in self.sessions)):
                raise ApiError(401, "Unauthenticated")
            for route_method, pattern, action in self._routes():
                match = re.fullmatch(pattern, path)
                if match and route_method == method:
                    return action(*(int(g) for g in match.groups()), query=query, body=body)
            raise ApiError(404, "API endpoint does not exist.")

    def _routes(self):
        return [
            ("GET", r"/api/database/?", self._list_databases),
            ("GET", r"/api/database/(\d+)/metadata", self._database_metadata),
            ("POST", r"/api/database/(\d+)/sync_schema", self._sync_schema),
            ("GET", r"/api/collection/?", self._list_collections),
            ("POST", r"/api/collection/?", self._create_collection),
            ("GET", r"/api/collection/(\d+)/items", self._collection_items),
            ("GET", r"/api/card/?", self._list_cards),
            ("POST", r"/api/card/?", self._create_card),
            ("GET", r"/api/card/(\d+)", self._get_card),
            ("PUT", r"/api/card/(\d+)", self._update_card),
            ("POST", r"/api/dashboard/?", self._create_dashboard),
            ("GET", r"/api/dashboard/(\d+)", self._get_dashboard),
            ("PUT", r"/api/dashboard/(\d+)", self._update_dashboard),
            ("PUT", r"/api/table/(\d+)", self._update_table),
            ("PUT", r"/api/field/(\d+)", self._update_field),
        ]

    # -------------------------------------------------------------------------------------- auth
    def _login(self, body: Any) -> dict:
        body = body or {}
        if not body.get("username"):
            raise _invalid(username="value must be a non-blank string.")
        if body.get("username") != self.username or body.get("password") != self.password:
            raise ApiError(401, {"errors": {"password": "did not match stored password"}})
        token = secrets.token_hex(16)
        self.sessions.add(token)
        return {"id": token}

    # --------------------------------------------------------------------------------- databases
    def _list_databases(self, *, query, body) -> dict:
        return {"data": list(self.databases.values()), "total": len(self.databases)}

    def _database_metadata(self, db_id: int, *, query, body) -> dict:
        # metabase/metabase src/metabase/warehouses/api.clj (db-metadata): without include_hidden, tables
        # with a visibility_type and fields with visibility_type "sensitive" are left out
        if db_id not in self.databases:
            raise _not_found()
        if db_id in self.sync_requested:  # the background sync has run by now
            self.sync_requested.discard(db_id)
            for table in [t for t in self.unsynced_tables if t["db_id"] == db_id]:
                self.unsynced_tables.remove(table)
                self._register_table(table)
            for table, field in [(t, f) for t, f in self.unsynced_fields if t["db_id"] == db_id]:
                self.unsynced_fields.remove((table, field))
                table["fields"].append(field)
                self.fields[field["id"]] = field
        include_hidden = _flag(query, "include_hidden")
        tables = []
        for table in (t for t in self.tables.values() if t["db_id"] == db_id):
            if table["visibility_type"] is not None and not include_hidden:
                continue
            fields = [f for f in table["fields"] if include_hidden or f["visibility_type"] != "sensitive"]
            tables.append({**table, "fields": fields})
        return {**self.databases[db_id], "tables": tables}

    def _sync_schema(self, db_id: int, *, query, body) -> dict:
        if db_id not in self.databases:
            raise _not_found()
        self.sync_requested.add(db_id)
        return {"status": "ok"}

    # PUT /api/table/:id and /api/field/:id change every key they are sent (a key left out stays)
    _TABLE_KEYS = ("description", "display_name", "visibility_type", "caveats", "points_of_interest")
    _FIELD_KEYS = ("description", "display_name", "visibility_type", "semantic_type", "fk_target_field_id")

    def _update_table(self, table_id: int, *, query, body) -> dict:
        if table_id not in self.tables:
            raise _not_found()
        self.tables[table_id].update({k: v for k, v in (body or {}).items() if k in self._TABLE_KEYS})
        return self.tables[table_id]

    def _update_field(self, field_id: int, *, query, body) -> dict:
        if field_id not in self.fields:
            raise _not_found()
        self.fields[field_id].update({k: v for k, v in (body or {}).items() if k in self._FIELD_KEYS})
        return self.fields[field_id]

    # ------------------------------------------------------------------------------- collections
    def _list_collections(self, *, query, body) -> list:
        root = {"id": "root", "name": "Our analytics", "can_write": True, "effective_ancestors": []}
        return [root, *(c for c in self.collections.values() if not c["archived"])]

    def _create_collection(self, *, query, body) -> dict:
        if not (body or {}).get("name"):
            raise _invalid(name="value must be a non-blank string.")
        if "color" in body and not re.fullmatch(r"#[0-9A-Fa-f]{6}", str(body["color"])):
            raise _invalid(color="value must be a string that matches the regex `^#[0-9A-Fa-f]{6}$`.")
        parent = body.get("parent_id")
        if parent is not None and parent not in self.collections:
            raise _not_found()
        location = "/" if parent is None else f"{self.collections[parent]['location']}{parent}/"
        collection = {
            "id": self._new_id(),
            "name": body["name"],
            "description": body.get("description"),
            "location": location,
            "personal_owner_id": None,
            "archived": False,
        }
        self.collections[collection["id"]] = collection
        return collection

    def _collection_items(self, collection_id: int, *, query, body) -> dict:
        if collection_id not in self.collections:
            raise _not_found()
        models = query.get("models") or ["card", "dashboard"]
        # metabase/metabase src/metabase/collections_rest/api.clj: dashboard questions (cards with a
        # dashboard_id) are listed only with show_dashboard_questions=true
        show_dashboard_questions = _flag(query, "show_dashboard_questions")
        items = []
        if "card" in models:
            items += [
                {
                    "id": c["id"],
                    "name": c["name"],
                    "model": "card",
                    "description": c["description"],
                    "display": c["display"],
                    "dashboard_id": c["dashboard_id"],
                }
                for c in self.cards.values()
                if c["collection_id"] == collection_id
                and not c["archived"]
                and (c["dashboard_id"] is None or show_dashboard_questions)
            ]
        if "dashboard" in models:
            items += [
                {"id": d["id"], "name": d["name"], "model": "dashboard", "description": d["description"]}
                for d in self.dashboards.values()
                if d["collection_id"] == collection_id and not d["archived"]
            ]
        return {"total": len(items), "data": items, "models": models, "limit": None, "offset": None}

    def _check_collection(self, collection_id: Any) -> None:
        if collection_id is not None and collection_id not in self.collections:
            raise _not_found()

    # ------------------------------------------------------------------------------------- cards
    def _list_cards(self, *, query, body) -> list:
        return [c for c in self.cards.values() if not c["archived"]]

    def _get_card(self, card_id: int, *, query, body) -> dict:
        if card_id not in self.cards:
            raise _not_found()
        card = self.cards[card_id]
        if self.query_shape == "mbql5" and card["dataset_query"].get("type") == "native":
            legacy = card["dataset_query"]
            stage = {
                "lib/type": "mbql.stage/native",
                "native": legacy["native"]["query"],
                "template-tags": legacy["native"].get("template-tags") or {},
            }
            card = {
                **card,
                "dataset_query": {
                    "lib/type": "mbql/query",
                    "database": legacy["database"],
                    "stages": [stage],
                },
            }
        return card

    def _card_fields(self, body: dict, *, partial: bool) -> dict:
        fields = {}
        for key in ("name", "display"):
            if key in body or not partial:
                if not isinstance(body.get(key), str) or not body[key].strip():
                    raise _invalid(**{key: "value must be a non-blank string."})
                fields[key] = body[key]
        for key in ("dataset_query", "visualization_settings"):
            if key in body or not partial:
                if not isinstance(body.get(key), dict):
                    raise _invalid(**{key: "value must be a map."})
                fields[key] = json.loads(json.dumps(body[key]))
        if "dataset_query" in fields and fields["dataset_query"].get("database") not in self.databases:
            raise ApiError(400, {"message": "Invalid query: no database with that id."})
        if "description" in body:
            fields["description"] = body["description"]
        if "collection_id" in body:
            self._check_collection(body["collection_id"])
            fields["collection_id"] = body["collection_id"]
        if "dashboard_id" in body:
            if body["dashboard_id"] is not None and body["dashboard_id"] not in self.dashboards:
                raise _not_found()
            fields["dashboard_id"] = body["dashboard_id"]
        return fields

    def _check_dashboard_question(self, card: dict) -> None:
        # metabase/metabase src/metabase/queries/models/card.clj (check-dashboard-internal-card-insert):
        # a dashboard question keeps its dashboard's collection
        if card.get("dashboard_id") is not None:
            dashboard = self.dashboards[card["dashboard_id"]]
            if card.get("collection_id") != dashboard["collection_id"]:
                raise ApiError(400, {"message": "Invalid dashboard-internal card"})

    def _create_card(self, *, query, body) -> dict:
        fields = self._card_fields(body or {}, partial=False)
        card = {
            "id": self._new_id(),
            "description": None,
            "collection_id": None,
            "dashboard_id": None,
            "archived": False,
        }
        if fields.get("dashboard_id") is not None and "collection_id" not in fields:
            fields["collection_id"] = self.dashboards[fields["dashboard_id"]]["collection_id"]
        self._check_dashboard_question({**card, **fields})
        card.update(type="question", query_type=fields["dataset_query"].get("type"), **fields)
        card["database_id"] = fields["dataset_query"]["database"]
        self.cards[card["id"]] = card
        return card

    def _update_card(self, card_id: int, *, query, body) -> dict:
        if card_id not in self.cards:
            raise _not_found()
        card = self.cards[card_id]
        fields = self._card_fields(body or {}, partial=True)
        self._check_dashboard_question({**card, **fields})
        card.update(fields)
        card.update(
            query_type=card["dataset_query"].get("type"), database_id=card["dataset_query"]["database"]
        )
        return card

    # -------------------------------------------------------------------------------- dashboards
    def _create_dashboard(self, *, query, body) -> dict:
        body = body or {}
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise _invalid(name="value must be a non-blank string.")
        self._check_collection(body.get("collection_id"))
        dashboard = {
            "id": self._new_id(),
            "name": body["name"],
            "description": body.get("description"),
            "collection_id": body.get("collection_id"),
            "parameters": body.get("parameters") or [],
            "archived": False,
            "dashcards": [],
            "tabs": [],
        }
        self.dashboards[dashboard["id"]] = dashboard
        return self._get_dashboard(dashboard["id"], query={}, body=None)

    def _get_dashboard(self, dashboard_id: int, *, query, body) -> dict:
        if dashboard_id not in self.dashboards:
            raise _not_found()
        dashboard = dict(self.dashboards[dashboard_id])
        dashboard["dashcards"] = [
            {**dc, "card": self.cards.get(dc["card_id"])} for dc in self.dashboards[dashboard_id]["dashcards"]
        ]
        return dashboard

    def _update_dashboard(self, dashboard_id: int, *, query, body) -> dict:
        if dashboard_id not in self.dashboards:
            raise _not_found()
        body = body or {}
        dashboard = self.dashboards[dashboard_id]
        if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
            raise _invalid(name="value may be nil, or if non-nil, value must be a non-blank string.")
        if "collection_id" in body:
            self._check_collection(body["collection_id"])
        if "dashcards" in body:
            tabs, tab_ids = self._replace_tabs(dashboard, body.get("tabs"), body["dashcards"])
            dashcards = self._replace_dashcards(dashboard, body["dashcards"], tab_ids)
            self._trash_orphaned_dashboard_questions(dashboard, dashcards)
            dashboard["tabs"], dashboard["dashcards"] = tabs, dashcards
        for key in ("name", "description", "collection_id", "parameters", "archived"):
            if key in body:
                dashboard[key] = body[key]
        return self._get_dashboard(dashboard_id, query={}, body=None)

    def _replace_tabs(self, dashboard: dict, tabs: Any, dashcards: Any) -> tuple[list[dict], dict[int, int]]:
        """The dashboard's new tabs and the map of the PUT's tab ids (negative for new ones) to real ids.

        metabase/metabase src/metabase/dashboards_rest/api.clj (update-dashboard!): with tabs on the
        dashboard, every dashcard needs a dashboard_tab_id (0.47-0.52 check the current tabs, later
        versions the PUT's); tabs missing from the PUT are deleted."""
        tabs = tabs or []
        if not isinstance(tabs, list) or not all(isinstance(t, dict) for t in tabs):
            raise _invalid(tabs="value must be seq of maps in which ids are unique")
        ids = [t.get("id") for t in tabs]
        if not all(isinstance(i, int) for i in ids) or len(set(ids)) != len(ids):
            raise _invalid(tabs="value must be seq of maps in which ids are unique")
        if not all(isinstance(t.get("name"), str) and t["name"].strip() for t in tabs):
            raise _invalid(tabs="value must be seq of maps in which ids are unique")
        tabless = isinstance(dashcards, list) and not all(
            isinstance(dc, dict) and dc.get("dashboard_tab_id") is not None for dc in dashcards
        )
        if (dashboard["tabs"] or tabs) and tabless:
            raise ApiError(400, {"message": "This dashboard has tab, makes sure every card has a tab"})
        current = {t["id"]: t for t in dashboard["tabs"]}
        new_tabs, tab_ids = [], {}
        for position, tab in enumerate(tabs):
            if tab["id"] > 0 and tab["id"] not in current:
                raise _not_found()
            real_id = tab["id"] if tab["id"] > 0 else self._new_id()
            tab_ids[tab["id"]] = real_id
            new_tabs.append(
                {"id": real_id, "dashboard_id": dashboard["id"], "name": tab["name"], "position": position}
            )
        return new_tabs, tab_ids

    def _trash_orphaned_dashboard_questions(self, dashboard: dict, dashcards: list[dict]) -> None:
        # a dashboard question taken off its dashboard goes to the trash (Metabase 0.53+)
        kept = {dc["card_id"] for dc in dashcards}
        for card in self.cards.values():
            if card.get("dashboard_id") == dashboard["id"] and card["id"] not in kept:
                card["archived"] = True

    def _replace_dashcards(self, dashboard: dict, dashcards: Any, tab_ids: dict[int, int]) -> list[dict]:
        if not isinstance(dashcards, list) or not all(isinstance(dc, dict) for dc in dashcards):
            raise _invalid(dashcards="value must be seq of maps in which ids are unique")
        ids = [dc.get("id") for dc in dashcards]
        if None in ids or len(set(ids)) != len(ids):
            raise _invalid(dashcards="value must be seq of maps in which ids are unique")
        current = {dc["id"]: dc for dc in dashboard["dashcards"]}
        result = []
        for dc in dashcards:
            for key in ("row", "col", "size_x", "size_y"):
                if not isinstance(dc.get(key), int) or dc[key] < 0:
                    raise _invalid(dashcards=f"{key} must be an integer >= 0")
            if dc.get("card_id") is not None and dc["card_id"] not in self.cards:
                raise _not_found()
            if dc.get("dashboard_tab_id") is not None and dc["dashboard_tab_id"] not in tab_ids:
                raise _invalid(
                    dashcards=f"dashboard_tab_id {dc['dashboard_tab_id']} is not a tab of this PUT"
                )
            new_id = dc["id"] if dc["id"] in current else self._new_id()
            result.append(
                {
                    "id": new_id,
                    "dashboard_id": dashboard["id"],
                    "card_id": dc.get("card_id"),
                    "row": dc["row"],
                    "col": dc["col"],
                    "size_x": dc["size_x"],
                    "size_y": dc["size_y"],
                    "dashboard_tab_id": tab_ids.get(dc.get("dashboard_tab_id")),
                    "parameter_mappings": dc.get("parameter_mappings") or [],
                    "visualization_settings": dc.get("visualization_settings") or {},
                    "series": dc.get("series") or [],
                }
            )
        return result


class _Handler(BaseHTTPRequestHandler):
    metabase: FakeMetabase
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK cost ~40 ms a request
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.metabase.requests.append((method, self.path))
        try:
            body = json.loads(raw) if raw else None
            answer, status = (
                self.metabase.handle(method, parts.path, parse_qs(parts.query), self.headers, body),
                200,
            )
        except json.JSONDecodeError:
            answer, status = {"message": "Malformed JSON in request body."}, 400
        except ApiError as exc:
            answer, status = exc.body, exc.status
        if isinstance(answer, str):
            payload, content_type = answer.encode(), "text/plain"
        else:
            payload, content_type = json.dumps(answer).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type};charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")
