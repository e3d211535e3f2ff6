"""The cycle on a sample spread over the whole year: atomic publish, bad input, SIGKILL and rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest

from insiders import db
from insiders.cycle import CyclePlan, run_cycle
from insiders.errors import UserError
from tests.conftest import require_shared_file
from tests.helpers import cut_sample
from tests.insiders.test_bad_inputs import CORPUS

SAMPLE_ROWS = 9_000  # one line in 60 of the shared file: ~2,000 customers over the whole year


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    return cut_sample(require_shared_file(), folder / "sample.csv.gz", SAMPLE_ROWS, every=60)


@pytest.fixture
def cycle_db(make_database, settings_for):
    url = make_database("cycle")
    return url, settings_for(url, bi_role=f"bi_{uuid.uuid4().hex[:8]}")


def _query(url, sql):
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


MART_FINGERPRINT = """
    select (select count(*) from marts.customer_features), (select sum(gross_revenue) from marts.customer_features),
           (select count(*) from marts.customer_segments), (select string_agg(segment_name, ',' order by segment_id)
           from marts.segment_summary), (select run_id from marts.segmentation_runs where is_current)
"""


def test_a_failing_step_leaves_the_published_marts_as_they_were(cycle_db, sample, tmp_path, monkeypatch):
    url, settings = cycle_db
    run_cycle(settings, [str(sample)])
    before = _query(url, MART_FINGERPRINT)

    more = cut_sample(require_shared_file(), tmp_path / "more.csv.gz", 3_000, skip=1, every=60)

    def broken_forecast(*args, **kwargs):
        raise UserError("forecast exploded on purpose")

    monkeypatch.setattr("insiders.cycle.run_forecast", broken_forecast)
    with pytest.raises(UserError, match="on purpose"):
        run_cycle(settings, [str(more)])

    assert _query(url, MART_FINGERPRINT) == before  # Metabase still sees the previous cycle, whole
    [(status, error)] = _query(url, "select status, error from ops.job_runs order by job_run_id desc limit 1")
    assert (status, error) == ("failed", "forecast exploded on purpose")
    # the new rows were loaded (loading is not undone), and the next good cycle publishes them
    monkeypatch.undo()
    run_cycle(settings, [str(more)])
    after = _query(url, MART_FINGERPRINT)
    assert after[0][0] > before[0][0]


def test_backtest_and_segment_go_through_the_cycle_and_publish_atomically(cycle_db, sample, monkeypatch):
    url, settings = cycle_db
    with pytest.raises(UserError, match="insiders run"):  # nothing published yet: nothing to compare
        run_cycle(settings, plan=CyclePlan.for_backtest(None, 91))
    run_cycle(settings, [str(sample)], plan=CyclePlan.for_run(settings, [str(sample)]))
    current = _query(url, "select run_id from marts.segmentation_runs where is_current")

    def broken_build(args, *rest, **kwargs):
        if "source:ml+" in args:
            raise UserError("downstream build exploded on purpose")

    monkeypatch.setattr("insiders.cycle.run_dbt", broken_build)
    before = _query(url, "select count(*) from marts.backtest_results")
    with pytest.raises(UserError, match="on purpose"):
        run_cycle(settings, plan=CyclePlan.for_backtest(date(2011, 9, 1), 60))
    assert _query(url, "select count(*) from marts.backtest_results") == before  # the live marts untouched
    monkeypatch.undo()

    outcome = run_cycle(settings, plan=CyclePlan.for_backtest(date(2011, 9, 1), 60))
    assert (outcome.backtest.cutoff, outcome.backtest.horizon_days) == (date(2011, 9, 1), 60)
    assert _query(
        url, "select distinct cutoff_date, horizon_days from marts.backtest_results where is_latest"
    ) == [(date(2011, 9, 1), 60)]
    assert _query(url, "select run_id from marts.segmentation_runs where is_current") == current
    outcome = run_cycle(settings, plan=CyclePlan.for_segment(settings))
    assert _query(url, "select run_id from marts.segmentation_runs where is_current") == [
        (outcome.segmentation.run_id,)
    ]
    commands = _query(url, "select command, status from ops.job_runs order by job_run_id")
    assert commands == [
        ("backtest", "failed"), ("run", "succeeded"), ("backtest", "failed"),
        ("backtest", "succeeded"), ("segment", "succeeded"),
    ]  # fmt: skip


def test_the_bad_input_corpus_goes_through_the_cycle(cycle_db, sample, tmp_path):
    url, settings = cycle_db
    outcome = run_cycle(settings, [str(sample), str(CORPUS)])
    assert outcome.exit_code == 5  # published, but some files were refused
    refused = _query(url, "select count(*) from raw.files where status = 'failed'")[0][0]
    assert refused == outcome.files_failed > 0
    [(cast_errors,)] = _query(url, "select sum(rows_with_cast_errors) from marts.data_quality")
    assert cast_errors >= 5  # six, quantity, 31/31/2011, 2/30/2011, 1e308, huge numbers: flagged, not fatal
    [(in_file, loaded, rejected)] = _query(
        url,
        "select sum(rows_in_file), sum(rows_loaded), sum(rows_rejected) from raw.files where status = 'loaded'",
    )
    assert in_file == loaded + rejected
    assert _query(url, "select count(*) from marts.segment_summary")[0][0] >= 3


def _run_cli_until(args, env, step: str, *, delay_s: float = 0.0) -> int:
    """Start `insiders ... run`, SIGKILL it once the log says ``step`` started; returns its exit code."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "insiders", "--log-format", "json", *args],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        for line in proc.stderr:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("step") == step and record.get("message", "").endswith("started"):
                if delay_s:
                    import time

                    time.sleep(delay_s)
                os.kill(proc.pid, signal.SIGKILL)
                break
        return proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()


STATE = """
    select (select count(*) from raw.transactions), (select count(*) from raw.files where status = 'loaded'),
           (select count(*) from marts.customer_features), (select sum(gross_revenue) from marts.customer_features),
           (select count(*) from marts.customer_segments),
           (select string_agg(customer_id || ':' || segment_name, ',' order by customer_id)
              from marts.customer_segments)
"""


@pytest.mark.parametrize(
    ("step", "delay_s"),
    [("load", 0.5), ("segment", 0.5), ("dbt build downstream", 1.0)],
)
def test_killed_at_any_step_then_rerun_gives_the_uninterrupted_result(
    step, delay_s, make_database, settings_for, sample, tmp_path
):
    reference_url = make_database("ref")
    run_cycle(settings_for(reference_url, home=tmp_path / "ref"), [str(sample)])
    expected = _query(reference_url, STATE)

    url = make_database("killed")
    env = {
        **os.environ,
        "INSIDERS_DATABASE_URL": url.render_as_string(hide_password=False),
        "INSIDERS_HOME": str(tmp_path / "killed"),
        "INSIDERS_DBT_TARGET_PATH": str(tmp_path / "killed" / "target"),
        "INSIDERS_ARTIFACT_DIR": str(tmp_path / "killed" / "artifacts"),
    }
    assert _run_cli_until(["run", str(sample)], env, step, delay_s=delay_s) == -signal.SIGKILL
    rerun = subprocess.run(
        [sys.executable, "-m", "insiders", "run", str(sample)], env=env, capture_output=True
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]

    assert _query(url, STATE) == expected
    statuses = [s for (s,) in _query(url, "select status from ops.job_runs order by job_run_id")]
    assert statuses == ["abandoned", "succeeded"]


def test_a_load_killed_mid_copy_loses_nothing_and_duplicates_nothing(database_url, tmp_path):
    env = {**os.environ, "INSIDERS_DATABASE_URL": database_url.render_as_string(hide_password=False)}
    env["INSIDERS_HOME"] = str(tmp_path)
    path = str(require_shared_file())
    proc = subprocess.Popen([sys.executable, "-m", "insiders", "load", path], env=env, stderr=subprocess.PIPE)
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the COPY is running, then kill
        rows = _query(
            database_url,
            "select count(*) from pg_stat_activity where query ilike 'copy raw.transactions%' and state = 'active'",
        )[0][0]
        if rows:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _query(database_url, "select count(*) from raw.files where status = 'loaded'") == [(0,)]
    done = subprocess.run(
        [sys.executable, "-m", "insiders", "load", path], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "541909 rows in file, 541909 loaded, 0 rejected" in done.stdout
    assert _query(
        database_url, "select count(*), count(distinct (file_id, line_number)) from raw.transactions"
    ) == [(541_909, 541_909)]
