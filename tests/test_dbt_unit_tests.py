"""Every dbt unit test runs in `make test`, on a fresh database: the cycle's builds leave them out
(`--exclude-resource-type unit_test`, README "Performance"), so this is where they are proved."""

from __future__ import annotations

from pathlib import Path

import yaml

from insiders import db
from insiders.dbt import run_dbt
from insiders.forecast_job import ensure_forecast_schema
from insiders.load import ensure_raw_schema
from insiders.ops import ensure_ops_schema
from insiders.segment.store import ensure_ml_schema
from insiders.settings import PROJECT_ROOT


def _defined_unit_tests() -> set[str]:
    names = set()
    for path in Path(PROJECT_ROOT, "models").rglob("*.yml"):
        for unit in (yaml.safe_load(path.read_text()) or {}).get("unit_tests", []) or []:
            names.add(unit["name"])
    return names


def test_every_dbt_unit_test_passes_on_a_fresh_database(make_database, settings_for):
    url = make_database("unit")
    settings = settings_for(url)
    with db.raw_connection(url) as conn:  # the sources, as the cycle's first steps create them
        ensure_raw_schema(conn)
        ensure_ops_schema(conn)
        ensure_ml_schema(conn)
        ensure_forecast_schema(conn)
        conn.commit()
    # unit tests read their inputs' column types from the database: every model, without rows
    run_dbt(["seed"], url, settings, quiet=True)
    run_dbt(["run", "--empty"], url, settings, quiet=True)
    result = run_dbt(["test", "--select", "test_type:unit"], url, settings, quiet=True)
    ran = {r.node.name for r in result.results}
    assert ran == _defined_unit_tests() and len(ran) >= 8
    assert all(r.status == "pass" for r in result.results)
