"""A small Metabase REST client: authentication, timeouts and one-line errors.

Authentication: an API key (header ``x-api-key``, Metabase ≥ 0.49) or a username and password exchanged
once for a session token (``POST /api/session`` → header ``X-Metabase-Session``). Secrets are never
logged nor put in error messages or the repr.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import requests

from insiders.errors import UserError
from insiders.metabase.settings import MetabaseSettings

log = logging.getLogger(__name__)

_MAX_MESSAGE = 300


def _metabase_message(response: requests.Response) -> str:
    """The reason Metabase gives, in one line: ``message``, ``errors`` or the body's text."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        if body.get("message"):
            body = body["message"]
        elif isinstance(body.get("errors"), dict):
            body = "; ".join(f"{k}: {v}" for k, v in body["errors"].items())
        elif body.get("errors"):
            body = body["errors"]
    text = " ".join(str(body).split()) or response.reason or ""
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _connection_reason(exc: requests.ConnectionError) -> str:
    reason = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", reason)
    text = re.sub(r"<[^>]*>:?\s*", "", str(reason))
    return " ".join(text.split()) or type(exc).__name__


class MetabaseClient:
    """``get``/``post``/``put`` on ``<url>/api/...``, returning the decoded JSON or raising UserError."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        if not re.match(r"https?://[^/]+", url or ""):
            raise UserError(f"INSIDERS_METABASE_URL must be an http(s) URL, got {url!r}")
        if not api_key and not (username and password):
            raise UserError(
                "no Metabase credentials: set INSIDERS_METABASE_API_KEY, "
                "or INSIDERS_METABASE_USERNAME and INSIDERS_METABASE_PASSWORD"
            )
        self.base_url = re.sub(r"/+(api/?)?$", "", url)
        self.timeout = timeout
        self.auth_method = "api key" if api_key else "session"
        self._username = username
        self._password = password
        self._session = session or requests.Session()
        self._session.headers["Accept"] = "application/json"
        if api_key:
            self._session.headers["x-api-key"] = api_key
        self._logged_in = bool(api_key)

    @classmethod
    def from_settings(cls, settings: MetabaseSettings) -> MetabaseClient:
        if not settings.url:
            raise UserError("INSIDERS_METABASE_URL is not set (the root URL of your Metabase)")
        return cls(
            settings.url,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            timeout=settings.timeout_seconds,
        )

    def __repr__(self) -> str:
        return f"MetabaseClient({self.base_url!r}, auth={self.auth_method!r})"

    def __enter__(self) -> MetabaseClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------------------------ requests
    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        url = f"{self.base_url}/api/{path.lstrip('/')}"
        try:
            return self._session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise UserError(
                f"Metabase at {self.base_url} did not answer {method} /api/{path.lstrip('/')} "
                f"within {self.timeout:g}s"
            ) from None
        except requests.ConnectionError as exc:
            raise UserError(f"cannot reach Metabase at {self.base_url}: {_connection_reason(exc)}") from None

    def login(self) -> None:
        """Exchange the username and password for a session token (once; no-op with an API key)."""
        if self._logged_in:
            return
        response = self._send(
            "POST", "session", json={"username": self._username, "password": self._password}
        )
        if not response.ok:
            raise UserError(
                f"Metabase login as {self._username!r} failed: HTTP {response.status_code}: "
                f"{_metabase_message(response)} (check INSIDERS_METABASE_USERNAME and _PASSWORD)"
            )
        token = self._json(response, "POST", "session").get("id")
        if not token:
            raise UserError(f"Metabase at {self.base_url} answered POST /api/session without a session id")
        self._session.headers["X-Metabase-Session"] = token
        self._logged_in = True
        log.debug("metabase: logged in as %s", self._username)

    def request(self, method: str, path: str, *, params: Any = None, json: Any = None) -> Any:
        self.login()
        response = self._send(method, path, params=params, json=json)
        log.debug("metabase: %s /api/%s → %s", method, path.lstrip("/"), response.status_code)
        if not response.ok:
            hint = ""
            if response.status_code in (401, 403):
                hint = (
                    " (check INSIDERS_METABASE_API_KEY)"
                    if self.auth_method == "api key"
                    else " (check the user's permissions)"
                )
            raise UserError(
                f"Metabase {method} /api/{path.lstrip('/')} failed: HTTP {response.status_code}: "
                f"{_metabase_message(response)}{hint}"
            )
        return self._json(response, method, path)

    def _json(self, response: requests.Response, method: str, path: str) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise UserError(
                f"Metabase {method} /api/{path.lstrip('/')} answered something that is not JSON: is "
                f"{self.base_url} the root URL of a Metabase?"
            ) from None

    def get(self, path: str, *, params: Any = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any) -> Any:
        return self.request("POST", path, json=json)

    def put(self, path: str, json: Any) -> Any:
        return self.request("PUT", path, json=json)

    # ------------------------------------------------------------------------------------- helpers
    def database_id(self, name: str) -> int:
        """The id of the Metabase database object called ``name`` (Admin > Databases)."""
        answer = self.get("database")
        databases = answer.get("data", []) if isinstance(answer, dict) else answer or []
        for database in databases:
            if database.get("name") == name:
                return int(database["id"])
        known = ", ".join(repr(d.get("name")) for d in databases) or "none"
        raise UserError(
            f"Metabase has no database named {name!r} (it has: {known}); set INSIDERS_METABASE_DATABASE"
        )
