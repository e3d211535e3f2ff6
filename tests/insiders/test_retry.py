"""Transient database errors are retried with backoff; permanent ones fail at once."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import psycopg2
import pytest

from insiders import db
from insiders.errors import UserError
from insiders.retry import is_transient_db_error, with_retries
from insiders.settings import Settings
from tests.conftest import _free_port


def test_transient_errors_are_retried_with_exponential_backoff():
    calls, delays = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise psycopg2.OperationalError("server closed the connection unexpectedly")
        return "ok"

    assert with_retries(flaky, what="x", attempts=5, sleep=delays.append) == "ok"
    assert len(calls) == 3
    assert delays == [0.5, 1.0]


def test_permanent_errors_are_not_retried():
    calls = []

    def denied():
        calls.append(1)
        raise psycopg2.OperationalError('FATAL:  password authentication failed for user "x"')

    with pytest.raises(psycopg2.OperationalError):
        with_retries(denied, what="x", attempts=5, sleep=lambda s: None)
    assert len(calls) == 1
    assert not is_transient_db_error(ValueError("a bug is not transient"))


def test_connecting_waits_for_a_server_that_comes_up_late():
    """A real server, started 1.5 s after the first connection attempt (e.g. a database restarting)."""
    folder = Path(tempfile.mkdtemp(prefix="insiders-late-pg-"))
    folder.chmod(0o755)
    pg_bin = db.find_pg_bin(Settings(database_url=None))
    port = _free_port()
    url = db.embedded_url(folder / "pgdata", port, "postgres")
    starter = threading.Timer(
        1.5, lambda: db.start_embedded(folder / "pgdata", port, pg_bin, database="postgres")
    )
    try:
        with pytest.raises(UserError, match="cannot connect"):
            db.connect_raw(url)  # one attempt: refused at once
        starter.start()
        conn = db.connect_raw(url, attempts=8)
        conn.close()
    finally:
        starter.join()
        db.stop_embedded(folder / "pgdata", pg_bin)
        shutil.rmtree(folder, ignore_errors=True)
