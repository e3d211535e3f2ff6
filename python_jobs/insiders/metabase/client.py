"""A small Metabase REST client: authentication, timeouts and one-line errors.

Authentication: an API key (header ``x-api-key``, Metabase ≥ 0.49) or a username and password exchanged
once for a session token (``POST /api/session`` → header ``X-Metabase-Session``). Secrets are never
logged nor put in error messages or the repr.

Where the secrets may go: requests strips only ``Authorization`` when a redirect leaves the host, so
``x-api-key``/``X-Metabase-Session`` (and a 307/308-redirected login's password) would follow it. The
client therefore refuses every redirect that changes the origin (scheme, host or port) before it is
sent, follows at most ``MAX_REDIRECTS`` within Metabase, and accepts plain ``http://`` only to this
machine (localhost, 127.0.0.0/8, ::1). Every transport failure is one ``UserError`` line.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import requests

from insiders.errors import UserError
from insiders.metabase.settings import MetabaseSettings

log = logging.getLogger(__name__)

_MAX_MESSAGE = 300
MAX_REDIRECTS = 10


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def _origin_text(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what an error may show of a redirect's target."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def is_loopback(host: str) -> bool:
    """True for names and addresses of this machine: localhost, 127.0.0.0/8, ::1."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str | None) -> str:
    """The root URL of Metabase (without ``/api``) after the checks that keep the secrets safe."""
    parts = urlsplit(url or "")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        shown = _origin_text(url) if parts.hostname else repr(url)
        raise UserError(f"INSIDERS_METABASE_URL must be an http(s) URL, got {shown}")
    if parts.username is not None or parts.password is not None:
        raise UserError(
            "INSIDERS_METABASE_URL must not contain a user name or password: set "
            "INSIDERS_METABASE_API_KEY (or _USERNAME and _PASSWORD) instead"
        )
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise UserError(f"INSIDERS_METABASE_URL has an invalid port: {url!r}") from None
    if parts.scheme.lower() == "http" and not is_loopback(parts.hostname):
        raise UserError(
            f"INSIDERS_METABASE_URL {_origin_text(url)} is plain http:// to another machine: the API key "
            "or password would cross the network unencrypted; use https:// (plain http is accepted "
            "only for localhost)"
        )
    return re.sub(r"/+(api/?)?$", "", url)


def rows(answer: Any) -> list[dict[str, Any]]:
    """The items of a list endpoint: Metabase ≥ 0.40 wraps most lists as ``{"data": [...], "total": n}``
    (``/api/database``, ``/api/collection/:id/items``); others (``/api/collection``) are bare lists."""
    if isinstance(answer, dict):
        answer = answer.get("data")
    return [row for row in answer or [] if isinstance(row, dict)]


class RedirectRefused(requests.RequestException):
    """A redirect that would take the credentials to another origin."""

    def __init__(self, target: str, **kwargs) -> None:
        super().__init__(target, **kwargs)
        self.target = target


class _SameOriginSession(requests.Session):
    """A requests session that follows redirects only within the origin of ``base_url``."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self._origin = _origin(base_url)
        self.max_redirects = MAX_REDIRECTS

    def rebuild_auth(self, prepared_request, response) -> None:
        # called by resolve_redirects for every hop, before the redirected request is sent
        if _origin(prepared_request.url) != self._origin:
            raise RedirectRefused(_origin_text(prepared_request.url), response=response)
        super().rebuild_auth(prepared_request, response)


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


def _connection_reason(exc: requests.RequestException) -> str:
    reason = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", reason)
    text = " ".join(re.sub(r"<[^>]*>:?\s*", "", str(reason)).split()) or type(exc).__name__
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


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
    ) -> None:
        base_url = check_url(url)
        if not api_key and not (username and password):
            raise UserError(
                "no Metabase credentials: set INSIDERS_METABASE_API_KEY, "
                "or INSIDERS_METABASE_USERNAME and INSIDERS_METABASE_PASSWORD"
            )
        self.base_url = base_url
        self.timeout = timeout
        self.auth_method = "api key" if api_key else "session"
        self._username = username
        self._password = password
        self._session = _SameOriginSession(self.base_url)
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
        endpoint = f"{method} /api/{path.lstrip('/')}"
        url = f"{self.base_url}/api/{path.lstrip('/')}"
        try:
            return self._session.request(method, url, timeout=self.timeout, **kwargs)
        except RedirectRefused as exc:
            raise UserError(
                f"Metabase at {self.base_url} redirected {endpoint} to {exc.target}: refused, so that "
                "the API key or session does not leave for another host; set INSIDERS_METABASE_URL to "
                "the address Metabase really answers at"
            ) from None
        except requests.TooManyRedirects:
            raise UserError(
                f"Metabase at {self.base_url} redirected {endpoint} more than {MAX_REDIRECTS} times "
                "(a redirect loop: check INSIDERS_METABASE_URL and the proxy in front of Metabase)"
            ) from None
        except requests.Timeout:
            raise UserError(
                f"Metabase at {self.base_url} did not answer {endpoint} within {self.timeout:g}s"
            ) from None
        except requests.exceptions.SSLError as exc:
            raise UserError(
                f"TLS with Metabase at {self.base_url} failed: {_connection_reason(exc)}"
            ) from None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            raise UserError(
                f"Metabase at {self.base_url}: the answer broke off or could not be decoded ({endpoint}: "
                f"{type(exc).__name__}); try again, or check the proxy in front of Metabase"
            ) from None
        except requests.ConnectionError as exc:
            raise UserError(f"cannot reach Metabase at {self.base_url}: {_connection_reason(exc)}") from None
        except requests.RequestException as exc:  # InvalidURL, InvalidHeader, ...: still one line
            raise UserError(
                f"request to Metabase at {self.base_url} failed ({endpoint}): {type(exc).__name__}: "
                f"{_connection_reason(exc)}"
            ) from None

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
        answer = self._json(response, "POST", "session")
        token = answer.get("id") if isinstance(answer, dict) else None
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
        databases = rows(self.get("database"))
        for database in databases:
            if database.get("name") == name:
                return int(database["id"])
        known = ", ".join(repr(d.get("name")) for d in databases) or "none"
        raise UserError(
            f"Metabase has no database named {name!r} (it has: {known}); set INSIDERS_METABASE_DATABASE"
        )
