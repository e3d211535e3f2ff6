"""The cycle lock and the run history, on a real Postgres."""

from __future__ import annotations

import threading
import time

import pytest
from typer.testing import CliRunner

from insiders import db, ops
from insiders.cli import app
from insiders.errors import LockBusyError


@pytest.fixture
def two_connections(database_url):
    first, second = db.connect_raw(database_url), db.connect_raw(database_url)
    ops.ensure_ops_schema(first)
    yield first, second
    first.close()
    second.close()


def test_a_second_cycle_is_refused_while_the_first_holds_the_lock(two_connections):
    first, second = two_connections
    ops.acquire_cycle_lock(first)
    with pytest.raises(LockBusyError, match="another insiders cycle is running"):
        ops.acquire_cycle_lock(second)
    ops.release_cycle_lock(first)
    ops.acquire_cycle_lock(second)  # free again


def test_the_lock_dies_with_its_connection(two_connections):
    first, second = two_connections
    ops.acquire_cycle_lock(first)
    first.close()  # what a SIGKILLed process amounts to for the server
    ops.acquire_cycle_lock(second)


def test_wait_takes_the_lock_once_it_is_released(two_connections):
    first, second = two_connections
    ops.acquire_cycle_lock(first)
    threading.Timer(1.0, lambda: ops.release_cycle_lock(first)).start()
    t0 = time.monotonic()
    ops.acquire_cycle_lock(second, wait=True, wait_timeout_s=30)
    assert time.monotonic() - t0 >= 0.9


def test_cli_run_exits_3_with_a_clear_message_when_a_cycle_is_running(
    two_connections, database_url, monkeypatch, tmp_path
):
    first, _ = two_connections
    ops.acquire_cycle_lock(first)
    monkeypatch.setenv("INSIDERS_DATABASE_URL", database_url.render_as_string(hide_password=False))
    monkeypatch.setenv("INSIDERS_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["run", str(tmp_path)])
    assert result.exit_code == 3
    assert "another insiders cycle is running" in result.output
    assert "Traceback" not in result.output


def test_job_runs_record_outcomes_and_abandoned_runs(two_connections):
    first, _ = two_connections
    killed = ops.start_job_run(first, "run", ["a.csv"])  # never finished: its process "died"
    current = ops.start_job_run(first, "run", ["a.csv"])
    update = ops.JobRunUpdate("succeeded", 0, {"load": 1.5}, files_loaded=1, rows_loaded=10, rows_rejected=2)
    ops.finish_job_run(first, current, update)
    runs = {r["job_run_id"]: r for r in ops.recent_job_runs(first)}
    assert runs[killed]["status"] == "abandoned"
    assert runs[current]["status"] == "succeeded"
    assert runs[current]["step_seconds"] == {"load": 1.5}
    assert (runs[current]["rows_loaded"], runs[current]["rows_rejected"]) == (10, 2)
