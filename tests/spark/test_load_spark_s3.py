"""S3 sources on Spark against a real S3 API (moto in server mode): s3.py's listing, ETag skips and
per-object errors, each object handed to the Spark loader (spark_cycle.load_sources)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from insiders.cli import app
from insiders.ingest import load_sources as load_on_postgres
from insiders.settings import Settings
from insiders.warehouse.spark_cycle import load_sources as load_on_spark
from tests.helpers import HEADER
from tests.insiders import test_s3
from tests.insiders.test_s3 import ROWS, put

# the Postgres S3 tests' fixtures: moto in server mode, a bucket per test
moto_endpoint, aws_env, bucket = test_s3.moto_endpoint, test_s3.aws_env, test_s3.bucket

SHORT = "536367,22634,too,few,fields"  # rejected: expected 8 fields, found 5


@pytest.fixture(autouse=True)
def fresh_raw(spark_warehouse):
    spark_warehouse.spark.sql("drop database if exists raw cascade")
    yield


def _by_name(results):
    return sorted(
        (r.source_uri.rsplit("/", 1)[1], r.status, r.rows_in_file, r.rows_loaded, r.rows_rejected)
        for r in results
    )


def _spark_files(spark_warehouse):
    frame = spark_warehouse.read_frame("select status, count(*) as n from raw.files group by status")
    return dict(zip(frame["status"], frame["n"], strict=True))


def test_objects_load_as_on_postgres_then_are_skipped_and_a_bad_one_fails_alone(
    spark_warehouse, spark_home, bucket, moto_endpoint, database_url, settings_for
):
    client, name = bucket
    put(client, name, "exports/2011-12-01.csv", [HEADER, ROWS[0], SHORT])
    put(client, name, "exports/2011-12-02.csv.gz", [HEADER, ROWS[1]])
    put(client, name, "exports/broken.csv", ["InvoiceNo,StockCode", "1,2"])
    put(client, name, "elsewhere/ignored.csv", [HEADER, ROWS[0].replace("536365", "999999")])
    prefix = f"s3://{name}/exports/"
    s3 = dict(s3_endpoint_url=moto_endpoint, s3_region="eu-west-1")
    on_spark = Settings(home=spark_home, target="spark", spark_master="local[1]", **s3)

    first = load_on_spark(spark_warehouse, [prefix], on_spark)
    on_pg = load_on_postgres(database_url, [prefix], settings_for(database_url, **s3))
    assert _by_name(first) == _by_name(on_pg)
    assert [r[:5] for r in _by_name(first)[:2]] == [
        ("2011-12-01.csv", "loaded", 2, 1, 1), ("2011-12-02.csv.gz", "loaded", 1, 1, 0),
    ]  # fmt: skip
    broken = next(r for r in first if r.status == "failed")
    assert broken.source_uri == f"{prefix}broken.csv" and "missing columns" in broken.message
    assert _spark_files(spark_warehouse) == {"failed": 1, "loaded": 2}
    manifest = spark_warehouse.read_frame(
        "select source_uri, etag from raw.files where status = 'loaded' order by source_uri"
    )
    assert list(manifest["source_uri"]) == [f"{prefix}2011-12-01.csv", f"{prefix}2011-12-02.csv.gz"]
    etags = {o["Key"]: o["ETag"].strip('"') for o in client.list_objects_v2(Bucket=name)["Contents"]}
    assert list(manifest["etag"]) == [etags["exports/2011-12-01.csv"], etags["exports/2011-12-02.csv.gz"]]
    counts = spark_warehouse.read_frame(
        "select (select count(*) from raw.transactions) as t, (select count(*) from raw.rejected_rows) as r"
    )
    assert counts.iloc[0].tolist() == [2, 1]

    # a second pass skips what is loaded (by key + ETag, nothing downloaded) and retries the bad object
    second = load_on_spark(spark_warehouse, [prefix], on_spark)
    assert sorted((r.source_uri.rsplit("/", 1)[1], r.status) for r in second) == [
        ("2011-12-01.csv", "skipped"), ("2011-12-02.csv.gz", "skipped"), ("broken.csv", "failed"),
    ]  # fmt: skip
    assert _spark_files(spark_warehouse) == {"failed": 2, "loaded": 2}


def test_insiders_load_of_an_s3_prefix_on_spark(
    spark_warehouse, spark_home, bucket, moto_endpoint, monkeypatch
):
    client, name = bucket
    put(client, name, "in/a.csv", [HEADER, *ROWS])
    for key, value in {
        "INSIDERS_TARGET": "spark", "INSIDERS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "INSIDERS_S3_ENDPOINT_URL": moto_endpoint, "INSIDERS_S3_REGION": "eu-west-1",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    loaded = runner.invoke(app, ["load", f"s3://{name}/in/"])
    assert loaded.exit_code == 0, loaded.output
    again = runner.invoke(app, ["load", f"s3://{name}/in/"])
    assert again.exit_code == 0 and "skipped" in again.output, again.output
    assert spark_warehouse.read_frame("select count(*) as n from raw.transactions")["n"].iloc[0] == 2
