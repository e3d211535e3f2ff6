"""The same sample on both engines gives the same marts (issue 12; docs/spark.md, section 6).

A sample of the shared file (one line in 18, ~30k lines, the whole year), cut into two files (the
first and the second half of the lines), goes through the whole cycle on Postgres (the real loader,
dbt, segmentation, forecast, backtest, publish). Spark gets the same inputs through two stand-ins
(tests/spark/warehouse_copy.py): the raw tables, file by file — first file one, built, then both,
built again, so the incremental models take the second file incrementally — and after the upstream
build, the `ml` rows the Postgres jobs wrote. Then every feature table and every mart must be equal:
same row count, same keys (each model's grain from its yml), every value within 1e-6.

One Spark session for the suite (tests/spark/conftest.py); the timings of each step are printed
(`pytest -s`), not asserted.
"""

from __future__ import annotations

import gzip
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from insiders import db
from insiders.cycle import DOWNSTREAM, UPSTREAM, CycleOutcome, run_cycle
from insiders.dbt import run_dbt
from insiders.settings import PROJECT_ROOT, Settings
from tests.conftest import require_shared_file
from tests.spark.engine_compare import (
    differences,
    max_abs_difference,
    model_grains,
    read_postgres,
    read_spark,
)
from tests.spark.warehouse_copy import copy_ml_to_spark, copy_raw_to_spark

SAMPLE_EVERY = 18  # one line in 18 of the shared file: 30,106 lines
MARTS = sorted(p.stem for p in (PROJECT_ROOT / "models" / "marts").glob("*.sql"))


@dataclass
class Engines:
    url: URL
    outcome: CycleOutcome
    spark: object
    grains: dict[str, list[str]]
    file_ids: list[int]
    spark_settings: Settings
    seconds: dict[str, float] = field(default_factory=dict)
    features_after_upstream: dict[str, tuple] = field(default_factory=dict)


def _cut_sample(folder: Path) -> list[Path]:
    """The sample as two CSV files with the shared file's header: the first and the second half."""
    with gzip.open(require_shared_file(), "rt", encoding="utf-8", newline="") as source:
        header = source.readline()
        lines = [line for i, line in enumerate(source, start=1) if i % SAMPLE_EVERY == 0]
    half = len(lines) // 2
    files = []
    for name, part in (("sample_part1.csv", lines[:half]), ("sample_part2.csv", lines[half:])):
        path = folder / name
        path.write_text(header + "".join(part), encoding="utf-8")
        files.append(path)
    return files


@pytest.fixture(scope="module")
def engines(spark_home, pg_admin_url, tmp_path_factory) -> Engines:
    seconds: dict[str, float] = {}

    def timed(label, action):
        t0 = time.perf_counter()
        result = action()
        seconds[label] = round(time.perf_counter() - t0, 1)
        return result

    folder = tmp_path_factory.mktemp("engines")
    files = _cut_sample(folder)
    name = f"engines_{uuid.uuid4().hex[:8]}"
    db.ensure_database(pg_admin_url, name)
    url = pg_admin_url.set(database=name)
    pg_settings = Settings(
        database_url=url.render_as_string(hide_password=False),
        home=folder / "pg-home",
        dbt_target_path=folder / "pg-target",
        artifact_dir=folder / "artifacts",
        report_dir=folder / "reports",
        bi_role=f"bi_{name}",
        target="postgres",
        dbt_target="dev",
    )
    outcome = timed("postgres cycle", lambda: run_cycle(pg_settings, [str(p) for p in files]))
    assert outcome.exit_code == 0 and outcome.segmentation is not None
    file_ids = [r.file_id for r in outcome.loads]
    assert [r.status for r in outcome.loads] == ["loaded", "loaded"]

    spark_settings = Settings(
        home=spark_home,
        target="spark",
        dbt_target_path=spark_home / "target-engines",
        project_dir=PROJECT_ROOT,
    )
    timed("spark seed", lambda: run_dbt(["seed"], None, spark_settings, quiet=True))
    spark = _dbt_spark_session(spark_home)
    with db.raw_connection(url) as conn:
        timed("copy raw file 1", lambda: copy_raw_to_spark(conn, spark, file_ids[:1]))
        # run, not build: the data tests of file 1's models would only cost time (build below tests)
        first = ["run", "--exclude", "source:ml+"]
        timed("spark upstream run, file 1", lambda: run_dbt(first, None, spark_settings, quiet=True))
        timed("copy raw files 1-2", lambda: copy_raw_to_spark(conn, spark))
        timed(
            "spark upstream build, file 2",
            lambda: run_dbt(["build", *UPSTREAM], None, spark_settings, quiet=True),
        )
        features = {
            table: (
                read_postgres(conn, schema, table.split(".")[-1]),
                read_spark(spark, schema, table.split(".")[-1]),
            )
            for schema, table in (("marts", "customer_features"), ("backtest", "backtest.customer_features"))
        }
        timed("copy ml", lambda: copy_ml_to_spark(conn, spark))
    run_vars = {"segmentation_run_id": outcome.segmentation.run_id}
    timed(
        "spark downstream",
        lambda: run_dbt(["build", *DOWNSTREAM], None, spark_settings, run_vars, quiet=True),
    )
    print("\nengine comparison, seconds:", seconds)
    yield Engines(
        url=url,
        outcome=outcome,
        spark=spark,
        grains=model_grains(spark_settings.dbt_target_path / "manifest.json"),
        file_ids=file_ids,
        spark_settings=spark_settings,
        seconds=seconds,
        features_after_upstream=features,
    )
    with db.raw_connection(pg_admin_url) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
            cur.execute(f'drop role if exists "bi_{name}"')


def _dbt_spark_session(spark_home: Path):
    """The session dbt-spark opened (session mode): the copies must write into its warehouse."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    warehouse = spark.conf.get("spark.sql.warehouse.dir")
    assert str(spark_home) in warehouse, f"not dbt's session: warehouse {warehouse}"
    return spark


@pytest.mark.parametrize("table", ["customer_features", "backtest.customer_features"])
def test_features_are_equal_on_both_engines(engines, table):
    postgres, spark = engines.features_after_upstream[table]
    assert len(postgres[1]) > 2000  # the sample's customers (3,689 and 2,798 at the cutoff)
    assert differences(postgres, spark, ["customer_id"]) == []
    worst = max_abs_difference(postgres, spark, ["customer_id"])
    print(f"\n{table}: largest |Postgres - Spark| per float column:", {k: v for k, v in worst.items() if v})


def test_the_second_file_was_taken_incrementally_on_spark(engines):
    """Incremental equals full on Spark: the lines of file 2 were appended by the second build (their
    own classified_at), not rebuilt with file 1's, and the features equal Postgres's (above)."""
    stamps = engines.spark.sql(
        "select file_id, count(distinct classified_at) as builds, min(classified_at) as stamped_at "
        "from intermediate.int_transactions_classified group by file_id order by file_id"
    ).collect()
    assert [row.file_id for row in stamps] == engines.file_ids
    assert all(row.builds == 1 for row in stamps)
    assert stamps[0].stamped_at < stamps[1].stamped_at


def test_spark_builds_every_mart(engines):
    rows = engines.spark.sql("show tables in marts").collect()
    tables = {row.tableName for row in rows if not row.isTemporary}  # not dbt's temp views
    assert tables == set(MARTS)


@pytest.mark.parametrize("mart", MARTS)
def test_every_mart_is_equal_on_both_engines(engines, mart):
    with db.raw_connection(engines.url) as conn:
        postgres = read_postgres(conn, "marts", mart)
    spark = read_spark(engines.spark, "marts", mart)
    assert differences(postgres, spark, engines.grains.get(mart)) == []


def test_the_customers_get_the_same_segments(engines):
    with db.raw_connection(engines.url) as conn, conn.cursor() as cur:
        cur.execute("select customer_id, segment_name, is_insider from marts.customer_segments")
        on_postgres = {row[0]: row[1:] for row in cur.fetchall()}
    rows = engines.spark.sql(
        "select customer_id, segment_name, is_insider from marts.customer_segments"
    ).collect()
    on_spark = {row.customer_id: (row.segment_name, row.is_insider) for row in rows}
    assert len({segment for segment, _ in on_postgres.values()}) >= 3
    assert on_spark == on_postgres


def test_dbt_show_answers_on_spark(engines, monkeypatch):
    """`insiders dbt show --inline ... --output json` with INSIDERS_TARGET=spark: the settings pick the
    spark output of the profile (insiders.dbt.dbt_target), no Postgres needed."""
    monkeypatch.setenv("INSIDERS_TARGET", "spark")
    monkeypatch.delenv("INSIDERS_DBT_TARGET", raising=False)
    settings = Settings(
        home=engines.spark_settings.home, dbt_target_path=engines.spark_settings.dbt_target_path
    )
    sql = "select count(*) as n from {{ ref('customer_features') }}"
    result = run_dbt(["show", "--inline", sql, "--output", "json"], None, settings, quiet=True)
    with db.raw_connection(engines.url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from marts.customer_features")
        expected = cur.fetchone()[0]
    assert [tuple(row) for row in result.results[0].agate_table.rows] == [(expected,)]
