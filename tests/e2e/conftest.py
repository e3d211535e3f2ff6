"""One whole cycle on the real shared file (541,909 rows), shared by the end-to-end tests.

`full_cycle` runs `insiders run` logic once per test session into a database of its own and yields
its URL, settings and outcome; tests only read from it (tests that change state build their own).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import URL

from insiders import db
from insiders.cycle import CycleOutcome, run_cycle
from insiders.settings import Settings
from tests.conftest import require_shared_file


@dataclass
class FullCycle:
    url: URL
    settings: Settings
    outcome: CycleOutcome

    def query(self, sql: str, params=None) -> list[tuple]:
        with db.raw_connection(self.url) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()


@pytest.fixture(scope="session")
def full_cycle(pg_admin_url, tmp_path_factory) -> FullCycle:
    name = f"e2e_{uuid.uuid4().hex[:8]}"
    db.ensure_database(pg_admin_url, name)
    url = pg_admin_url.set(database=name)
    home = tmp_path_factory.mktemp("e2e-home")
    settings = Settings(
        database_url=url.render_as_string(hide_password=False),
        home=home,
        dbt_target_path=home / "target",
        artifact_dir=home / "artifacts",
        report_dir=home / "reports",
        bi_role=f"bi_{name}",
        bi_password="e2e-bi-password",
    )
    outcome = run_cycle(settings, [str(require_shared_file())])
    yield FullCycle(url, settings, outcome)
    with db.raw_connection(pg_admin_url) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
            cur.execute(f'drop role if exists "bi_{name}"')
