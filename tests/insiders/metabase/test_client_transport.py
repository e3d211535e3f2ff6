"""The client's transport, against real local HTTP servers: the API key or session token (and the
login's password) never leave for another host, plain http:// only to this machine, and every
transport failure (redirect loops, broken or dropped answers) is one clear line, never a traceback.

requests strips only ``Authorization`` on a redirect to another host; ``x-api-key`` and
``X-Metabase-Session`` would follow it, so the client refuses any redirect that changes the origin.
"""

from __future__ import annotations

import logging

import pytest
from typer.testing import CliRunner

from insiders.cli import app
from insiders.errors import UserError
from insiders.metabase import MetabaseClient

from .local_http import LocalServer, json_reply, redirect

API_KEY = "mb_transport_secret_key"
PASSWORD = "transport-secret-password"
DATABASES = {"data": [{"id": 7, "name": "Insiders"}], "total": 1}


@pytest.fixture
def metabase():
    with LocalServer("127.0.0.1") as server:
        yield server


@pytest.fixture(params=["127.0.0.2", "127.0.0.1"], ids=["other-address", "other-port"])
def elsewhere(request):
    """A server that is not the configured Metabase: another loopback address, or another port."""
    with LocalServer(request.param) as server:
        server.replies["/api/database"] = json_reply(DATABASES)
        server.replies["/api/session"] = json_reply({"id": "stolen-session"})
        yield server


def _leaked(server: LocalServer) -> list[str]:
    found = []
    for seen in server.seen:
        text = " ".join(seen.headers.values()) + seen.body.decode(errors="replace")
        found += [secret for secret in (API_KEY, PASSWORD) if secret in text]
    return found


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_is_refused_and_the_api_key_stays(metabase, elsewhere, status):
    metabase.replies["/api/database"] = redirect(f"{elsewhere.url}/api/database", status)
    client = MetabaseClient(metabase.url, api_key=API_KEY, timeout=5)

    with pytest.raises(UserError) as caught:
        client.database_id("Insiders")

    message = str(caught.value)
    assert message.startswith(
        f"Metabase at {metabase.url} redirected GET /api/database to {elsewhere.url}: refused"
    )
    assert "\n" not in message and API_KEY not in message
    assert elsewhere.seen == [] and _leaked(elsewhere) == []


def test_a_redirected_login_never_sends_the_password_elsewhere(metabase, elsewhere):
    metabase.replies["/api/session"] = redirect(f"{elsewhere.url}/api/session", 307)
    client = MetabaseClient(metabase.url, username="admin@example.com", password=PASSWORD, timeout=5)

    with pytest.raises(UserError, match=r"redirected POST /api/session to .*: refused"):
        client.get("database")
    assert elsewhere.seen == []


def test_a_redirect_within_metabase_is_followed_with_the_key(metabase):
    metabase.replies["/api/database"] = redirect("/api/database/", 301)
    metabase.replies["/api/database/"] = json_reply(DATABASES)

    assert MetabaseClient(metabase.url, api_key=API_KEY, timeout=5).database_id("Insiders") == 7
    assert [s.path for s in metabase.seen] == ["/api/database", "/api/database/"]
    assert metabase.seen[-1].headers.get("x-api-key") == API_KEY


def test_endless_redirects_are_one_clear_line(metabase):
    metabase.replies["/api/database"] = redirect("/api/database?again=1")
    client = MetabaseClient(metabase.url, api_key=API_KEY, timeout=5)

    with pytest.raises(UserError, match=r"^Metabase at .* redirected GET /api/database more than \d+ times"):
        client.get("database")
    assert len(metabase.seen) <= 11


def _broken_chunks(handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.write(b'5\r\n{"dat\r\nnot-a-chunk-size\r\n')
    handler.wfile.flush()
    handler.close_connection = True


def _hang_up(handler) -> None:
    handler.close_connection = True  # closes without a status line


def _bad_gzip(handler) -> None:
    body = b"this is not gzip"
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (_broken_chunks, r"the answer broke off"),
        (_bad_gzip, r"could not be decoded"),
        (_hang_up, r"cannot reach Metabase at .*: "),
    ],
    ids=["broken-chunked-answer", "undecodable-answer", "dropped-connection"],
)
def test_a_broken_answer_is_one_clear_line(metabase, reply, reason):
    metabase.replies["/api/database"] = reply
    client = MetabaseClient(metabase.url, api_key=API_KEY, timeout=5)

    with pytest.raises(UserError, match=reason) as caught:
        client.get("database")
    assert "\n" not in str(caught.value) and API_KEY not in str(caught.value)


def test_tls_to_a_server_that_speaks_plain_http_is_one_clear_line(metabase):
    metabase.replies["/api/database"] = json_reply(DATABASES)
    url = metabase.url.replace("http://", "https://")
    client = MetabaseClient(url, api_key=API_KEY, timeout=5)

    with pytest.raises(UserError, match=rf"^TLS with Metabase at {url} failed: ") as caught:
        client.get("database")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["http://metabase.example.com", "http://10.0.0.5:3000", "http://metabase.internal:3000/api"],
)
def test_plain_http_to_another_machine_is_refused(url):
    with pytest.raises(UserError, match=r"plain http:// .* use https://"):
        MetabaseClient(url, api_key=API_KEY)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:3000",
        "http://127.0.0.1:3000",
        "http://127.1.2.3",
        "http://[::1]:3000",
        "https://metabase.example.com",
        "https://10.0.0.5:8443/",
    ],
)
def test_https_anywhere_and_plain_http_to_this_machine_are_accepted(url):
    assert MetabaseClient(url, api_key=API_KEY).base_url == url.rstrip("/")


def test_credentials_inside_the_url_are_refused_without_echoing_them():
    with pytest.raises(UserError, match="must not contain a user name or password") as caught:
        MetabaseClient("https://admin:hunter2-in-url@metabase.example.com", api_key=API_KEY)
    assert "hunter2-in-url" not in str(caught.value)


@pytest.fixture
def restore_logging():
    """The CLI configures the root logger (handler on its captured stderr, INFO): put it back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_the_cli_says_it_in_one_line_with_exit_code_2(metabase, monkeypatch, restore_logging):
    other_host = "http://127.0.0.2:9"  # nothing needs to listen there: nothing is sent to it
    metabase.replies["/api/database"] = redirect(f"{other_host}/api/database")
    for name in ("USERNAME", "PASSWORD", "DATABASE", "FOLDER"):
        monkeypatch.delenv(f"INSIDERS_METABASE_{name}", raising=False)
    monkeypatch.setenv("INSIDERS_METABASE_URL", metabase.url)
    monkeypatch.setenv("INSIDERS_METABASE_API_KEY", API_KEY)

    result = CliRunner().invoke(app, ["metabase", "push", "--no-with-descriptions"])

    assert result.exit_code == 2, result.output
    [error] = [line for line in result.output.splitlines() if line.startswith("error:")]  # (logs aside)
    assert error.startswith(f"error: Metabase at {metabase.url} redirected GET /api/database to {other_host}")
    assert "Traceback" not in result.output and API_KEY not in result.output
