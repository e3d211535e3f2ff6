"""The Spark suite: dbt-spark in `session` mode on a local pyspark (docs/spark.md).

Skipped, with the reason shown, when the spark extra is not installed (`INSIDERS_TARGET=spark make
install` or INSIDERS_SPARK_TESTS=1) or no Java is on the PATH. One JVM for the whole suite (`local[1]`,
the machine is shared), stopped at the end; its warehouse and Derby metastore are in a temp folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

from insiders.dbt import run_dbt
from insiders.settings import PROJECT_ROOT, Settings

SPARK_URL_UNUSED = make_url("postgresql://unused@127.0.0.1:1/unused")  # run_dbt wants one; Spark ignores it


def _require_spark() -> None:
    pytest.importorskip("pyspark", reason="the spark extra is not installed (pip install .[spark])")
    pytest.importorskip("dbt.adapters.spark", reason="dbt-spark is not installed (pip install .[spark])")
    if shutil.which("java") is None:
        pytest.skip("no java on the PATH (Spark needs Java 17; .ci/run installs it)")


SCRATCH_PROJECT = """\
name: insiders
version: "0.1.0"
config-version: 2
profile: insiders
macro-paths: ["macros"]
seed-paths: ["seeds"]
model-paths: ["models"]
flags:
  send_anonymous_usage_stats: false
  use_colors: false
seeds:
  insiders:
    +schema: seeds
"""


@pytest.fixture(scope="session")
def macro_project(tmp_path_factory) -> Path:
    """A scratch dbt project named like the real one, with copies of the real macros/cross_db and seeds."""
    root = tmp_path_factory.mktemp("cross-db-project")
    (root / "dbt_project.yml").write_text(SCRATCH_PROJECT)
    shutil.copytree(PROJECT_ROOT / "macros" / "cross_db", root / "macros" / "cross_db")
    shutil.copy(PROJECT_ROOT / "macros" / "generate_schema_name.sql", root / "macros")
    (root / "models").mkdir()
    shutil.copytree(PROJECT_ROOT / "seeds", root / "seeds", ignore=shutil.ignore_patterns("*.yml"))
    shutil.copy(PROJECT_ROOT / "profiles.yml.example", root / "profiles.yml.example")
    return root


@pytest.fixture(scope="session")
def spark_home(tmp_path_factory):
    """INSIDERS_HOME of the suite's Spark session; the session is stopped when the suite ends."""
    _require_spark()
    home = tmp_path_factory.mktemp("spark-home")
    saved = {
        k: os.environ.get(k)
        for k in ("INSIDERS_HOME", "INSIDERS_SPARK_MASTER", "INSIDERS_SPARK_DRIVER_MEMORY")
    }
    os.environ.update(
        INSIDERS_HOME=str(home), INSIDERS_SPARK_MASTER="local[1]", INSIDERS_SPARK_DRIVER_MEMORY="1g"
    )
    yield home
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


Runner = Callable[[list[str]], object]


@pytest.fixture(params=["postgres", "spark"])
def dbt_on(request, macro_project, tmp_path) -> tuple[str, Runner]:
    """(engine, run): run(["show", ...]) runs dbt on the scratch project against that engine."""
    engine = request.param
    if engine == "spark":
        home = request.getfixturevalue("spark_home")
        url: URL = SPARK_URL_UNUSED
        settings = Settings(
            database_url=url.render_as_string(hide_password=False),
            project_dir=macro_project,
            home=home,
            dbt_target="spark",
            dbt_target_path=home / "target",
        )
    else:
        url = request.getfixturevalue("database_url")
        settings = Settings(
            database_url=url.render_as_string(hide_password=False),
            project_dir=macro_project,
            home=tmp_path / "home",
            dbt_target="dev",
            dbt_target_path=tmp_path / "target",
        )
    return engine, lambda command: run_dbt(command, url, settings, quiet=True)


def show_rows(run: Runner, sql: str) -> list[dict]:
    """The rows of `dbt show --inline sql` as dicts (column name -> value)."""
    result = run(["show", "--inline", sql, "--limit", "100"])
    table = result.results[0].agate_table
    return [dict(zip(table.column_names, row, strict=True)) for row in table.rows]


@pytest.fixture(scope="session")
def spark_warehouse(spark_home):
    """The job's SparkWarehouse on the suite's one JVM (shared with dbt-spark's session)."""
    from insiders.warehouse.spark import SparkWarehouse

    settings = Settings(home=spark_home, spark_master="local[1]", spark_driver_memory="1g")
    return SparkWarehouse.open(settings)
