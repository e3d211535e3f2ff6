"""After the publish nothing fails a cycle: a broken summary or run-history write is a warning, the exit
code is 0, and the run is never marked abandoned. The heavy steps are stand-ins here (what they build
is not the point); the lock, the history and the publish are the real ones."""

from __future__ import annotations

import uuid

import psycopg2
import pytest
from typer.testing import CliRunner

from insiders import db, ops
from insiders.cli import app

RESULT = type("Segmentation", (), {"run_id": "r1"})()


@pytest.fixture
def light_cycle(monkeypatch, database_url, tmp_path):
    """`insiders run` with dbt, the segmentation and the report replaced by stand-ins."""

    def fake_dbt(command, url, settings, dbt_vars=None, quiet=False):
        with db.raw_connection(url) as conn, conn.cursor() as cur:
            cur.execute("create table if not exists marts__build.segment_summary as select 1 as customers")
            conn.commit()

    monkeypatch.setattr("insiders.cycle.load_sources", lambda url, sources, settings: [])
    monkeypatch.setattr("insiders.cycle.run_dbt", fake_dbt)
    monkeypatch.setattr("insiders.cycle._segmentation", lambda url, settings, plan: RESULT)
    monkeypatch.setattr("insiders.cycle.run_forecast", lambda conn, **kwargs: None)
    monkeypatch.setattr("insiders.cycle.write_report", lambda conn, folder: None)
    monkeypatch.setenv("INSIDERS_DATABASE_URL", database_url.render_as_string(hide_password=False))
    monkeypatch.setenv("INSIDERS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("INSIDERS_BACKTEST_IN_CYCLE", "false")
    monkeypatch.setenv("INSIDERS_BI_ROLE", f"bi_{uuid.uuid4().hex[:8]}")
    return lambda: CliRunner().invoke(app, ["run", str(tmp_path)])


def _runs(url):
    with db.raw_connection(url) as conn:
        return ops.recent_job_runs(conn)


def test_a_summary_that_cannot_be_read_after_the_publish_is_only_a_warning(
    light_cycle, monkeypatch, database_url
):
    def broken(url):
        raise psycopg2.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("insiders.cycle.segment_summary_rows", broken)
    result = light_cycle()
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert _runs(database_url)[0]["status"] == "succeeded"


def test_a_run_history_write_that_fails_after_the_publish_is_retried_then_never_marked_abandoned(
    light_cycle, monkeypatch, database_url
):
    real_finish = ops.finish_job_run
    calls = []

    def flaky_finish(conn, job_run_id, update):
        calls.append(update.status)
        if len(calls) == 1:  # the lock connection dropped
            raise psycopg2.OperationalError("SSL SYSCALL error: EOF detected")
        real_finish(conn, job_run_id, update)

    monkeypatch.setattr("insiders.ops.finish_job_run", flaky_finish)
    result = light_cycle()
    assert result.exit_code == 0, result.output
    assert calls == ["succeeded", "succeeded"]  # retried on a new connection
    assert _runs(database_url)[0]["status"] == "succeeded"

    def dead_finish(conn, job_run_id, update):
        raise psycopg2.OperationalError("the database went away")

    monkeypatch.setattr("insiders.ops.finish_job_run", dead_finish)
    result = light_cycle()
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    published = _runs(database_url)[0]
    assert published["status"] == "running"  # nothing could be written ... but the publish said so:
    monkeypatch.setattr("insiders.ops.finish_job_run", real_finish)
    assert light_cycle().exit_code == 0
    runs = {r["job_run_id"]: r for r in _runs(database_url)}
    assert runs[published["job_run_id"]]["status"] == "succeeded"  # not abandoned
