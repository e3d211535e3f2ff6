"""`insiders load` and `insiders dbt` with INSIDERS_TARGET=spark: no Postgres, the Spark raw tables, and
dbt-spark answering in the same process on the same session."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from insiders.cli import app
from tests.conftest import require_shared_file
from tests.helpers import cut_sample


def test_load_then_dbt_show_on_spark(spark_warehouse, spark_home, tmp_path, monkeypatch):
    spark_warehouse.spark.sql("drop database if exists raw cascade")
    monkeypatch.setenv("INSIDERS_TARGET", "spark")
    monkeypatch.setenv("INSIDERS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")  # never reached
    monkeypatch.setenv("INSIDERS_DBT_TARGET_PATH", str(tmp_path / "target"))
    sample = cut_sample(require_shared_file(), tmp_path / "sample.csv.gz", 500, every=50)
    runner = CliRunner()

    loaded = runner.invoke(app, ["load", str(sample)])
    assert loaded.exit_code == 0, loaded.output
    again = runner.invoke(app, ["load", str(sample)])
    assert again.exit_code == 0 and "skipped" in again.output

    query = "select count(*) as n from {{ source('shop', 'transactions') }}"
    shown = runner.invoke(app, ["dbt", "show", "--inline", query, "--output", "json", "--log-format", "json"])
    assert shown.exit_code == 0, shown.output
    assert spark_warehouse.read_frame("select count(*) as n from raw.transactions")["n"].iloc[0] == 500
    preview = [json.loads(line) for line in shown.output.splitlines() if line.startswith("{")]
    shows = [p["data"]["preview"] for p in preview if "preview" in p.get("data", {})]
    assert json.loads(shows[0]) == [{"n": 500}]
