"""Shared fixtures: a real Postgres server for the whole test session and a fresh database per test.

The server is the one of INSIDERS_TEST_DATABASE_URL when set (a superuser URL; each test gets its own
database on it), otherwise an embedded cluster of the machine's PostgreSQL binaries in a temp folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

from insiders import db
from insiders.settings import PROJECT_ROOT, Settings

SHARED_FILE = PROJECT_ROOT.parent / "shared" / "data" / "online_retail_2010_2011.csv.gz"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_admin_url() -> URL:
    """URL of the maintenance database of a running Postgres server (session-wide)."""
    configured = os.environ.get("INSIDERS_TEST_DATABASE_URL")
    if configured:
        yield make_url(configured).set(drivername="postgresql+psycopg2")
        return
    folder = Path(tempfile.mkdtemp(prefix="insiders-test-pg-"))
    os.chmod(folder, 0o755)
    settings = Settings(database_url=None)
    pg_bin = db.find_pg_bin(settings)
    try:  # a start that fails halfway (server up, setup failed) is stopped too
        yield db.start_embedded(folder / "pgdata", _free_port(), pg_bin, database="postgres")
    finally:
        db.stop_embedded(folder / "pgdata", pg_bin)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def make_database(pg_admin_url):
    """Factory: a new, empty database per call, dropped after the test."""
    created: list[str] = []

    def factory(prefix: str = "t") -> URL:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        db.ensure_database(pg_admin_url, name)
        created.append(name)
        return pg_admin_url.set(database=name)

    yield factory
    with db.raw_connection(pg_admin_url) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in created:
                cur.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def database_url(make_database) -> URL:
    return make_database()


@pytest.fixture
def settings_for(tmp_path):
    """Factory: Settings pointing at a database, with outputs in the test's temp folder."""

    def factory(url: URL, **overrides) -> Settings:
        values = dict(
            database_url=url.render_as_string(hide_password=False),
            home=tmp_path / "home",
            dbt_target_path=tmp_path / "target",
            artifact_dir=tmp_path / "artifacts",
            report_dir=tmp_path / "reports",
        )
        values.update(overrides)
        return Settings(**values)

    return factory


@pytest.fixture
def pg_conn(database_url):
    conn = db.connect_raw(database_url)
    yield conn
    conn.close()


def require_shared_file() -> Path:
    if not SHARED_FILE.exists():
        pytest.fail(f"the shared data file is missing: {SHARED_FILE}")
    return SHARED_FILE
