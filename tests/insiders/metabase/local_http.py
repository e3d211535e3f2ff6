"""Tiny real HTTP servers for the client's transport tests: each answers from a table of canned replies.

``LocalServer("127.0.0.2")`` listens on another loopback address (Linux routes all of 127.0.0.0/8 to
``lo``), which stands for "another host" in redirect tests. Every request is recorded with its headers
and body, so a test can show that a secret never reached a server.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


# a reply: (status, headers, body) or a callable writing raw bytes to the socket (for broken answers)
Reply = tuple[int, dict[str, str], bytes] | Callable[[BaseHTTPRequestHandler], None]


def json_reply(body, status: int = 200) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def redirect(location: str, status: int = 302) -> Reply:
    return status, {"Location": location}, b""


class LocalServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.replies: dict[str, Reply] = {}  # path (without query) → reply; unknown paths get 404
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                reply = server.replies.get(self.path.split("?")[0], (404, {}, b"Not found."))
                if callable(reply):
                    reply(self)
                    return
                status, headers, payload = reply
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _serve

        self._httpd = ThreadingHTTPServer((host, 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
