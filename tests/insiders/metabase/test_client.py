"""The Metabase client: API key or session auth, and one clear line (no secret) for every failure."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from insiders.errors import UserError
from insiders.metabase import MetabaseClient, push


def test_api_key_auth_sends_the_key_header_and_no_login(fake_metabase):
    with MetabaseClient(fake_metabase.url, api_key=fake_metabase.api_key) as client:
        assert client.database_id("Insiders") == 2

    assert ("POST", "/api/session") not in fake_metabase.requests


def test_username_and_password_log_in_once(fake_metabase, settings):
    password = SecretStr(fake_metabase.password)
    settings = settings.model_copy(
        update={"api_key": None, "username": fake_metabase.username, "password": password}
    )

    report = push(settings)

    assert report.count("created", "dashboard") == 2
    assert fake_metabase.requests.count(("POST", "/api/session")) == 1
    assert len(fake_metabase.sessions) == 1


def test_a_wrong_api_key_is_one_clear_line_without_the_key(fake_metabase):
    client = MetabaseClient(fake_metabase.url, api_key="mb_wrong_key_123")

    with pytest.raises(UserError) as caught:
        client.database_id("Insiders")

    message = str(caught.value)
    assert message == (
        "Metabase GET /api/database failed: HTTP 401: Unauthenticated (check INSIDERS_METABASE_API_KEY)"
    )
    assert "mb_wrong_key_123" not in message and "mb_wrong_key_123" not in repr(client)


def test_a_wrong_password_is_one_clear_line_without_the_password(fake_metabase):
    client = MetabaseClient(fake_metabase.url, username=fake_metabase.username, password="hunter2-wrong")

    with pytest.raises(UserError) as caught:
        client.get("collection")

    message = str(caught.value)
    assert message.startswith(
        "Metabase login as 'admin@example.com' failed: HTTP 401: password: did not match"
    )
    assert "hunter2-wrong" not in message and "hunter2-wrong" not in repr(client)


def test_metabase_error_messages_are_passed_on(client):
    with pytest.raises(UserError, match=r"^Metabase GET /api/card/999 failed: HTTP 404: Not found\.$"):
        client.get("card/999")
    with pytest.raises(UserError, match=r"HTTP 400: name: value must be a non-blank string\.$"):
        client.post("collection", {"name": ""})


def test_missing_settings_are_user_errors(fake_metabase):
    with pytest.raises(UserError, match="no Metabase credentials: set INSIDERS_METABASE_API_KEY"):
        MetabaseClient(fake_metabase.url)
    with pytest.raises(UserError, match="must be an http"):
        MetabaseClient("metabase.example.com", api_key="k")


def test_settings_do_not_show_secrets(settings):
    assert settings.api_key.get_secret_value() not in repr(settings)


def test_an_unreachable_metabase_is_a_user_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = MetabaseClient(f"http://127.0.0.1:{port}", api_key="k", timeout=2)

    with pytest.raises(UserError, match=rf"^cannot reach Metabase at http://127.0.0.1:{port}: .*refused"):
        client.get("database")


def test_a_silent_metabase_times_out_with_a_user_error():
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        client = MetabaseClient(url, api_key="k", timeout=0.3)

        with pytest.raises(UserError, match=r"did not answer GET /api/database within 0.3s"):
            client.get("database")


def test_the_url_may_end_with_api(fake_metabase):
    client = MetabaseClient(fake_metabase.url + "/api/", api_key=fake_metabase.api_key)
    assert client.base_url == fake_metabase.url
    assert client.database_id("Insiders") == 2


class _HtmlPage(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><body>Some other app</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_url_that_is_not_metabase_is_a_user_error():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlPage)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(
            UserError, match=r"answered something that is not JSON: is .* the root URL of a Metabase"
        ):
            MetabaseClient(url, api_key="k").get("database")
    finally:
        server.shutdown()
        server.server_close()
