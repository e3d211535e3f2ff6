"""A stand-in Metabase for the tests: a tiny in-memory HTTP server on 127.0.0.1 (random port).

No Metabase server can run here (no internet, no docker), so the push is tested against this. It
implements only the endpoints ``insiders.metabase`` uses, with the JSON shapes and errors of Metabase
v0.50 (the first API docs where ``PUT /api/dashboard/:id`` takes ``dashcards`` + ``tabs``, since 0.48):

- auth: ``x-api-key`` header, or ``POST /api/session`` {username, password} → {"id": token} then the
  ``X-Metabase-Session`` header; anything else gets 401 with the text body ``Unauthenticated``;
- ``GET /api/database`` ({"data": [...], "total": n}), ``GET /api/database/:id/metadata``;
- ``GET/POST /api/collection`` (the list holds the "root" pseudo-collection and a personal one),
  ``GET /api/collection/:id/items?models=...`` ({"data": [...], "total": n, "models": [...]});
- ``GET/POST /api/card``, ``GET/PUT /api/card/:id`` (native ``dataset_query``);
- ``POST /api/dashboard``, ``GET/PUT /api/dashboard/:id``: PUT replaces the whole ``dashcards`` list
  (negative ids create, missing ones are deleted) and ``tabs``;
- ``PUT /api/table/:id``, ``PUT /api/field/:id`` (descriptions).

Every request is recorded in ``requests``; ``writes`` are the POST/PUT ones other than logins. It is a
stand-in, not an emulator: it validates what a real Metabase would refuse for these calls (missing
fields, unknown ids, duplicate dashcard ids), nothing more.
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
    ) -> None:
        self.api_key, self.username, self.password = api_key, username, password
        self.sessions: set[str] = set()
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.databases = {i: {"id": i, "name": n, "engine": "postgres"} for i, n in enumerate(databases, 1)}
        self.tables: dict[int, dict] = {}  # id → table with "fields", "db_id"
        self.fields: dict[int, dict] = {}
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

    def add_table(self, database: str, schema: str, name: str, fields: list[str]) -> dict:
        """A synced table, as Metabase's sync would have found it."""
        db_id = next(i for i, d in self.databases.items() if d["name"] == database)
        table = {"id": self._new_id(), "db_id": db_id, "schema": schema, "name": name, "description": None}
        table["fields"] = []
        for field_name in fields:
            field = {"id": self._new_id(), "table_id": table["id"], "name": field_name, "description": None}
            self.fields[field["id"]] = field
            table["fields"].append(field)
        self.tables[table["id"]] = table
        return table

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
        if db_id not in self.databases:
            raise _not_found()
        tables = [t for t in self.tables.values() if t["db_id"] == db_id]
        return {**self.databases[db_id], "tables": tables}

    def _update_table(self, table_id: int, *, query, body) -> dict:
        if table_id not in self.tables:
            raise _not_found()
        self.tables[table_id]["description"] = body.get("description")
        return self.tables[table_id]

    def _update_field(self, field_id: int, *, query, body) -> dict:
        if field_id not in self.fields:
            raise _not_found()
        self.fields[field_id]["description"] = body.get("description")
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
        items = []
        if "card" in models:
            items += [
                {"id": c["id"], "name": c["name"], "model": "card", "description": c["description"]}
                for c in self.cards.values()
                if c["collection_id"] == collection_id and not c["archived"]
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
        return self.cards[card_id]

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
        return fields

    def _create_card(self, *, query, body) -> dict:
        fields = self._card_fields(body or {}, partial=False)
        card = {"id": self._new_id(), "description": None, "collection_id": None, "archived": False}
        card.update(type="question", query_type=fields["dataset_query"].get("type"), **fields)
        card["database_id"] = fields["dataset_query"]["database"]
        self.cards[card["id"]] = card
        return card

    def _update_card(self, card_id: int, *, query, body) -> dict:
        if card_id not in self.cards:
            raise _not_found()
        card = self.cards[card_id]
        card.update(self._card_fields(body or {}, partial=True))
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
            dashboard["dashcards"] = self._replace_dashcards(dashboard, body["dashcards"])
            dashboard["tabs"] = list(body.get("tabs") or [])
        for key in ("name", "description", "collection_id", "parameters", "archived"):
            if key in body:
                dashboard[key] = body[key]
        return self._get_dashboard(dashboard_id, query={}, body=None)

    def _replace_dashcards(self, dashboard: dict, dashcards: Any) -> list[dict]:
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
                    "dashboard_tab_id": dc.get("dashboard_tab_id"),
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
