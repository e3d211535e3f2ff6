"""S3 ingestion against a real S3 API: moto in server mode, reached through its endpoint URL."""

from __future__ import annotations

import gzip
import http.server
import threading

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from insiders.db import raw_connection
from insiders.ingest import load_sources
from tests.conftest import _free_port
from tests.helpers import HEADER, write_export

ROWS = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
    "536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,17850,United Kingdom",
]


@pytest.fixture(scope="module")
def moto_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)


@pytest.fixture
def bucket(moto_endpoint, aws_env, request):
    name = f"shop-exports-{request.node.name[:20].replace('_', '-').lower()}"
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="eu-west-1")
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return client, name


def put(client, bucket, key, lines):
    body = ("\n".join(lines) + "\n").encode("latin-1")
    if key.endswith(".gz"):
        body = gzip.compress(body)
    client.put_object(Bucket=bucket, Key=key, Body=body)


def counts(url):
    with raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute("select status, count(*) from raw.files group by status order by status")
        files = dict(cur.fetchall())
        cur.execute("select count(*) from raw.transactions")
        return files, cur.fetchone()[0]


def test_new_objects_are_loaded_once_and_a_bad_one_does_not_block_the_others(
    bucket, database_url, settings_for, moto_endpoint
):
    client, name = bucket
    put(client, name, "exports/2011-12-01.csv", [HEADER, ROWS[0]])
    put(client, name, "exports/2011-12-02.csv.gz", [HEADER, ROWS[1]])
    put(client, name, "exports/broken.csv", ["InvoiceNo,StockCode", "1,2"])
    put(client, name, "elsewhere/ignored.csv", [HEADER, ROWS[0].replace("536365", "999999")])
    settings = settings_for(database_url, s3_endpoint_url=moto_endpoint, s3_region="eu-west-1")

    first = load_sources(database_url, [f"s3://{name}/exports/"], settings)
    assert sorted((r.source_uri.rsplit("/", 1)[1], r.status) for r in first) == [
        ("2011-12-01.csv", "loaded"), ("2011-12-02.csv.gz", "loaded"), ("broken.csv", "failed"),
    ]  # fmt: skip
    broken = next(r for r in first if r.status == "failed")
    assert "missing columns" in broken.message
    assert counts(database_url) == ({"failed": 1, "loaded": 2}, 2)

    # a second pass skips what is loaded (by key + ETag) and retries only the failed object
    second = load_sources(database_url, [f"s3://{name}/exports/"], settings)
    assert sorted(r.status for r in second) == ["failed", "skipped", "skipped"]
    assert counts(database_url) == ({"failed": 2, "loaded": 2}, 2)


def test_the_same_content_under_another_key_is_not_loaded_twice(
    bucket, database_url, settings_for, moto_endpoint
):
    client, name = bucket
    put(client, name, "in/a.csv", [HEADER, *ROWS])
    put(client, name, "in/copy-of-a.csv", [HEADER, *ROWS])
    settings = settings_for(database_url, s3_endpoint_url=moto_endpoint)
    results = load_sources(database_url, [f"s3://{name}/in/"], settings)
    assert sorted(r.status for r in results) == ["loaded", "skipped"]
    assert counts(database_url) == ({"loaded": 1}, 2)
    with raw_connection(database_url) as conn, conn.cursor() as cur:
        cur.execute("select source_uri, etag is not null from raw.files")
        assert cur.fetchall() == [(f"s3://{name}/in/a.csv", True)]


class ThrottlingProxy(http.server.ThreadingHTTPServer):
    """An S3 endpoint in front of moto that answers the first ``fail_first`` requests with 503 SlowDown."""

    def __init__(self, upstream: str, fail_first: int):
        self.upstream, self.remaining, self.seen, self.paths = upstream, fail_first, 0, []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _handle(self):
        server: ThrottlingProxy = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with server.lock:
            server.seen += 1
            server.paths.append((self.command, self.path))
            throttle = server.remaining > 0
            server.remaining -= throttle
        if throttle:
            payload = (
                b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            )
            self.send_response(503)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}}
        resp = requests.request(
            self.command, server.upstream + self.path, headers=headers, data=body, timeout=30
        )
        self.send_response(resp.status_code)
        for key, value in resp.headers.items():
            if key.lower() not in {"content-length", "transfer-encoding", "connection", "content-encoding"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(resp.content)))
        self.end_headers()
        self.wfile.write(resp.content)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


def test_throttling_is_retried_with_backoff(bucket, database_url, settings_for, moto_endpoint):
    client, name = bucket
    put(client, name, "t/a.csv", [HEADER, *ROWS])
    proxy = ThrottlingProxy(moto_endpoint, fail_first=3)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"
        settings = settings_for(database_url, s3_endpoint_url=endpoint, s3_max_attempts=5)
        results = load_sources(database_url, [f"s3://{name}/t/"], settings)
    finally:
        proxy.shutdown()
    assert [r.status for r in results] == ["loaded"]
    assert proxy.seen >= 3 + 2  # three throttled answers, then the list and the download went through


def test_throttling_beyond_the_retry_budget_fails_with_a_clear_message(
    bucket, database_url, settings_for, moto_endpoint
):
    from insiders.errors import UserError

    client, name = bucket
    proxy = ThrottlingProxy(moto_endpoint, fail_first=100)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"
        settings = settings_for(database_url, s3_endpoint_url=endpoint, s3_max_attempts=2)
        with pytest.raises(UserError, match="cannot list s3://"):
            load_sources(database_url, [f"s3://{name}/t/"], settings)
    finally:
        proxy.shutdown()
    assert proxy.seen == 2, proxy.paths


def test_local_folder_source_loads_every_export_in_it(database_url, settings_for, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    write_export(folder / "a.csv", [HEADER, ROWS[0]])
    write_export(folder / "b.csv.gz", [HEADER, ROWS[1]])
    (folder / "notes.txt").write_text("not an export")
    results = load_sources(database_url, [str(folder)], settings_for(database_url))
    assert [r.status for r in results] == ["loaded", "loaded"]


class TruncatingProxy(http.server.ThreadingHTTPServer):
    """An S3 endpoint in front of moto that cuts every download of keys containing ``cut_key`` in half
    (the full Content-Length is announced, half the body sent, then the connection closes)."""

    def __init__(self, upstream: str, cut_key: str):
        self.upstream, self.cut_key, self.cut = upstream, cut_key, 0
        super().__init__(("127.0.0.1", 0), _TruncatingHandler)


class _TruncatingHandler(_ProxyHandler):
    def _handle(self):
        server: TruncatingProxy = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}}
        resp = requests.request(
            self.command, server.upstream + self.path, headers=headers, data=body, timeout=30
        )
        cut = self.command == "GET" and server.cut_key in self.path and "list-type" not in self.path
        self.send_response(resp.status_code)
        for key, value in resp.headers.items():
            if key.lower() not in {"content-length", "transfer-encoding", "connection", "content-encoding"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(resp.content)))
        self.end_headers()
        if cut:
            server.cut += 1
            self.wfile.write(resp.content[: len(resp.content) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(resp.content)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


def test_a_download_that_keeps_breaking_fails_that_object_only(
    bucket, database_url, settings_for, moto_endpoint
):
    client, name = bucket
    put(
        client,
        name,
        "r/a-cut.csv.gz",
        [HEADER, *ROWS] + [ROWS[0].replace("536365", str(600000 + i)) for i in range(3000)],
    )
    put(client, name, "r/b.csv", [HEADER, ROWS[1]])
    proxy = TruncatingProxy(moto_endpoint, cut_key="a-cut")
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"
        settings = settings_for(database_url, s3_endpoint_url=endpoint, s3_max_attempts=2)
        results = load_sources(database_url, [f"s3://{name}/r/"], settings)
    finally:
        proxy.shutdown()
    by_key = {r.source_uri.rsplit("/", 1)[1]: r for r in results}
    assert by_key["b.csv"].status == "loaded"  # the other object goes on
    failed = by_key["a-cut.csv.gz"]
    assert failed.status == "failed"
    assert failed.message.startswith("download failed:") and "\n" not in failed.message
    assert (
        "retries exceeded" in failed.message.lower() or "max retries" in failed.message.lower()
    ), failed.message
    assert proxy.cut >= 2  # s3transfer retried the broken stream before giving up
    assert counts(database_url) == ({"loaded": 1}, 1)


def test_a_full_disk_while_streaming_fails_that_object_only(
    bucket, database_url, settings_for, moto_endpoint, monkeypatch
):
    """The temp file is /dev/full for the first object: the kernel answers ENOSPC to every write."""
    client, name = bucket
    put(client, name, "d/1-first.csv", [HEADER, ROWS[0]])
    put(client, name, "d/2-second.csv", [HEADER, ROWS[1]])
    import insiders.s3

    real_open, opened = insiders.s3._open_target, []

    def open_target(path):
        opened.append(path)
        return open("/dev/full", "wb") if len(opened) == 1 else real_open(path)

    monkeypatch.setattr(insiders.s3, "_open_target", open_target)
    settings = settings_for(database_url, s3_endpoint_url=moto_endpoint)
    results = load_sources(database_url, [f"s3://{name}/d/"], settings)
    assert [(r.source_uri.rsplit("/", 1)[1], r.status) for r in results] == [
        ("1-first.csv", "failed"), ("2-second.csv", "loaded"),
    ]  # fmt: skip
    assert results[0].message.startswith("download failed: no space left on the device")
    assert counts(database_url) == ({"loaded": 1}, 1)
