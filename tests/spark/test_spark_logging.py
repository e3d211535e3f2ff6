"""The Spark JVM's log: warnings stay, those that repeat on every statement do not (log4j2.properties)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.spark.conftest import _require_spark

SCRIPT = textwrap.dedent(
    """
    import sys
    from insiders.settings import Settings
    from insiders.warehouse.spark_session import base_session
    settings = Settings(home=sys.argv[1], spark_master="local[1]")
    spark = base_session(settings)
    for _ in range(3):  # what dbt-spark does for every statement of a build
        base_session(settings).sql("select 1").collect()
    from insiders.warehouse.spark_schema import ensure_tables
    for _ in range(2):  # what every step of a cycle does
        ensure_tables(spark, "ml")
        spark.sql("create database if not exists ml")
    spark._jvm.org.apache.logging.log4j.LogManager.getLogger("insiders.test").warn("a warning that stays")
    spark.stop()
    """
)


def test_the_per_statement_warnings_are_silenced_and_other_warnings_kept(tmp_path):
    _require_spark()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=300, check=True
    )
    assert "Using an existing Spark session" not in done.stderr
    assert "AlreadyExistsException" not in done.stderr and "NoSuchObjectException" not in done.stderr
    assert "Updating partition stats" not in done.stderr
    assert "[Stage " not in done.stderr  # no console progress bars
    assert "a warning that stays" in done.stderr
