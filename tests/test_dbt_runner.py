"""insiders.dbt: one parse per cycle, and a reused manifest gives what a fresh parse gives."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from insiders import db, dbt
from insiders.cycle import run_cycle
from insiders.dbt import MANIFESTS, RUNTIME_VARS, run_dbt
from tests.conftest import require_shared_file
from tests.helpers import cut_sample

# Values unlike the defaults of dbt_project.yml, one per var the parse key leaves out.
RUNTIME_VALUES = {
    "segmentation_run_id": "00000000-0000-0000-0000-000000000042",
    "backtest_horizon_days": 30,
    "insiders_programme_start": "2011-01-01",
}
# Marts without run ids or timestamps, with a key that orders their rows.
COMPARED_MARTS = {
    "customer_features": "customer_id",
    "customer_segments": "customer_id",
    "segment_summary": "segment_name",
    "insiders": "customer_id",
}


@pytest.fixture(autouse=True)
def fresh_cache():
    MANIFESTS.clear()
    MANIFESTS.enabled = True
    yield
    MANIFESTS.clear()
    MANIFESTS.enabled = True


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """Counts dbt's real parses (a spy around dbt's own parse_manifest, which still runs)."""
    import dbt.cli.requires as requires

    calls: list[str] = []
    original = requires.parse_manifest

    def counting(runtime_config, *args, **kwargs):
        calls.append(runtime_config.cli_vars.get("marts_schema", "marts"))  # which parse it was
        return original(runtime_config, *args, **kwargs)

    monkeypatch.setattr(requires, "parse_manifest", counting)
    return calls


def _nodes(manifest) -> dict[str, dict]:
    out = {}
    for uid, node in {**manifest.nodes, **manifest.sources, **manifest.exposures}.items():
        data = node.to_dict()
        data.pop("created_at", None)
        out[uid] = data
    return out


def test_runtime_vars_do_not_shape_the_manifest_and_marts_schema_does(database_url, settings_for):
    settings = settings_for(database_url)
    assert set(RUNTIME_VALUES) == RUNTIME_VARS
    default = _nodes(run_dbt(["parse"], database_url, settings, quiet=True))
    with_runtime = _nodes(run_dbt(["parse"], database_url, settings, RUNTIME_VALUES, quiet=True))
    assert with_runtime == default  # same nodes, configs, schemas, tests, dependencies
    other_schema = _nodes(run_dbt(["parse"], database_url, settings, {"marts_schema": "x"}, quiet=True))
    assert other_schema["model.insiders.customer_features"]["schema"] == "x"
    # the reference dates are rendered at parse time into int_reference_dates: they stay in the key
    dated = _nodes(run_dbt(["parse"], database_url, settings, {"as_of_date": "2011-06-01"}, quiet=True))
    assert "as_of_date" not in RUNTIME_VARS and dated.keys() == default.keys()


def test_calls_that_differ_in_runtime_vars_only_share_one_parse(
    database_url, settings_for, parses, monkeypatch
):
    settings = settings_for(database_url)
    select = ["--select", "int_segmentation_runs_ranked"]
    run_dbt(["compile", *select], database_url, settings, {"marts_schema": "m"}, quiet=True)
    reused = run_dbt(
        ["compile", *select], database_url, settings, {"marts_schema": "m", **RUNTIME_VALUES}, quiet=True
    )
    assert parses == ["m"]
    run_dbt(["compile", *select], database_url, settings, {"marts_schema": "other"}, quiet=True)
    assert parses == ["m", "other"]  # a var that shapes the manifest parses again
    monkeypatch.setenv("INSIDERS_CONTROL_SHARE_PCT", "30")  # read by env_var() in dbt_project.yml
    run_dbt(["compile", *select], database_url, settings, {"marts_schema": "m"}, quiet=True)
    assert parses == ["m", "other", "m"]  # an environment the parse may read: parsed again

    # the reused manifest compiled the SQL with this call's value, exactly as a fresh parse does
    MANIFESTS.enabled = False
    fresh = run_dbt(
        ["compile", *select], database_url, settings, {"marts_schema": "m", **RUNTIME_VALUES}, quiet=True
    )
    assert len(parses) == 4  # without the cache, the call parsed by itself
    reused_node, fresh_node = (
        next(r.node for r in res.results if r.node.name == "int_segmentation_runs_ranked")
        for res in (reused, fresh)
    )
    assert RUNTIME_VALUES["segmentation_run_id"] in reused_node.compiled_code
    assert reused_node.compiled_code == fresh_node.compiled_code


def test_an_edited_project_file_changes_the_parse_key(database_url, settings_for):
    settings = settings_for(database_url)
    before = dbt.parse_key(settings, {}, None)
    macro = settings.project_dir / "macros" / "date_var.sql"
    stat = macro.stat()
    try:
        os.utime(macro, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        assert dbt.parse_key(settings, {}, None) != before
    finally:
        os.utime(macro, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert dbt.parse_key(settings, {}, None) == before
    assert dbt.parse_key(settings, {}, {"segmentation_run_id": "x"}) == before  # a runtime var
    assert dbt.parse_key(settings, {}, {"marts_schema": "x"}) != before
    files = {
        Path(path).relative_to(settings.project_dir).as_posix()
        for path, *_ in dbt.project_fingerprint(settings.project_dir)
    }
    assert {"dbt_project.yml", "macros/date_var.sql", "models/marts/customer_features.yml"} <= files
    assert not {"README.md", "pyproject.toml"} & files  # editing the docs needs no new parse
    assert not any(f.endswith(".py") for f in files)


def _marts(url) -> dict[str, list[tuple]]:
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        out = {}
        for mart, key in COMPARED_MARTS.items():
            cur.execute(f"select * from marts.{mart} order by {key}")
            columns = [c.name for c in cur.description]
            keep = [i for i, c in enumerate(columns) if not (c.endswith("_at") or "run_id" in c)]
            out[mart] = [tuple(row[i] for i in keep) for row in cur.fetchall()]
    return out


def test_a_cycle_parses_once_and_gives_the_marts_of_a_cycle_without_reuse(
    make_database, settings_for, parses, tmp_path
):
    sample = cut_sample(require_shared_file(), tmp_path / "sample.csv.gz", 6_000, every=90)
    reused_url, fresh_url = make_database("reuse"), make_database("fresh")
    run_cycle(settings_for(reused_url, bi_role=f"bi_{uuid.uuid4().hex[:8]}"), [str(sample)])
    # the upstream and downstream builds (their vars differ in segmentation_run_id) share one parse;
    # the backtest reads the cutoff features of the upstream build
    assert parses == ["marts__build"]

    MANIFESTS.enabled = False
    parses.clear()
    run_cycle(settings_for(fresh_url, bi_role=f"bi_{uuid.uuid4().hex[:8]}"), [str(sample)])
    assert len(parses) == 2  # without the cache, each build parses by itself
    reused, fresh = _marts(reused_url), _marts(fresh_url)
    assert all(reused[m] for m in COMPARED_MARTS)
    assert reused == fresh
