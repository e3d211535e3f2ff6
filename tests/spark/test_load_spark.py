"""The loader's Spark sink: the same parse as on Postgres, written to the Spark raw tables with the
manifest row last (insiders.warehouse.spark_load)."""

from __future__ import annotations

import pytest

from insiders.load import ensure_raw_schema
from insiders.load import load_file as load_on_postgres
from insiders.warehouse import spark_load
from tests.conftest import require_shared_file
from tests.helpers import HEADER, cut_sample, write_export

GOOD = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom"
BAD_LINES = [
    "536366,22633,too,few,fields",  # expected 8 fields, found 5
    '536367,22634,"HAND WARMER, UNION JACK",6,12/1/2010 8:28,1.85,17850,United Kingdom,extra',  # 9 fields
    "536368,22635,NUL\x00INSIDE,6,12/1/2010 8:28,1.85,17850,United Kingdom",  # a NUL character
    '536369,22636,"a quoted field\nover two lines",6,12/1/2010 8:29,1.85,17850,United Kingdom',  # good
]


@pytest.fixture(autouse=True)
def fresh_raw(spark_warehouse):
    spark_warehouse.spark.sql("drop database if exists raw cascade")
    yield


def _sample_with_bad_rows(tmp_path):
    """200 lines of the shared file with the bad lines spread among them."""
    sample = cut_sample(require_shared_file(), tmp_path / "sample.csv", 200, every=97)
    lines = sample.read_text(encoding="latin-1").splitlines()
    for i, bad in enumerate(BAD_LINES):
        lines.insert(20 + 40 * i, bad)
    return write_export(tmp_path / "with_bad_rows.csv.gz", [*lines, GOOD])


def _spark_rows(spark, sql):
    return [tuple(r) for r in spark.sql(sql).collect()]


def _pg_rows(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        rows = [tuple(r) for r in cur.fetchall()]
    conn.rollback()
    return rows


def test_same_counts_rows_and_reject_reasons_as_the_postgres_loader(spark_warehouse, pg_conn, tmp_path):
    path = _sample_with_bad_rows(tmp_path)
    on_spark = spark_load.load_file(spark_warehouse.spark, path)
    ensure_raw_schema(pg_conn)
    on_pg = load_on_postgres(pg_conn, path)

    counts = (on_spark.status, on_spark.rows_in_file, on_spark.rows_loaded, on_spark.rows_rejected)
    assert counts == ("loaded", 205, 202, 3)
    assert counts == (on_pg.status, on_pg.rows_in_file, on_pg.rows_loaded, on_pg.rows_rejected)
    spark = spark_warehouse.spark
    # rows in = rows loaded + rows rejected, in the tables themselves
    assert _spark_rows(spark, "select count(*) from raw.transactions") == [(202,)]
    assert _spark_rows(spark, "select count(*) from raw.rejected_rows") == [(3,)]
    columns = "line_number, invoice_no, stock_code, description, quantity, invoice_date, unit_price, customer_id, country"
    assert _spark_rows(spark, f"select {columns} from raw.transactions order by line_number") == _pg_rows(
        pg_conn, f"select {columns} from raw.transactions order by line_number"
    )
    rejects = "select line_number, raw_line, reason from raw.rejected_rows order by line_number"
    assert _spark_rows(spark, rejects) == _pg_rows(pg_conn, rejects)
    reasons = sorted(r[2] for r in _spark_rows(spark, rejects))
    assert reasons == ["contains a NUL character", "expected 8 fields, found 5", "expected 8 fields, found 9"]
    manifest = (
        "select file_name, sha256, size_bytes, encoding, status, rows_in_file, rows_loaded, rows_rejected, "
        "layout_name, date_pattern, decimal_separator, cancellation_prefix from raw.files"
    )
    assert _spark_rows(spark, manifest) == _pg_rows(pg_conn, manifest)


def test_loading_the_same_file_again_is_skipped(spark_warehouse, tmp_path):
    path = write_export(tmp_path / "a.csv", [HEADER, GOOD, BAD_LINES[0]])
    first = spark_load.load_file(spark_warehouse.spark, path)
    copy = tmp_path / "same-bytes-other-name.csv"
    copy.write_bytes(path.read_bytes())
    second = spark_load.load_file(spark_warehouse.spark, copy)
    assert (first.status, first.rows_loaded, first.rows_rejected) == ("loaded", 1, 1)
    assert (second.status, second.file_id) == ("skipped", first.file_id)
    assert "already loaded as file" in second.message
    spark = spark_warehouse.spark
    assert _spark_rows(spark, "select count(*) from raw.files") == [(1,)]
    assert _spark_rows(spark, "select count(*) from raw.transactions") == [(1,)]


def test_a_load_that_stops_before_its_manifest_row_leaves_nothing_visible(
    spark_warehouse, tmp_path, monkeypatch
):
    spark = spark_warehouse.spark
    path = write_export(tmp_path / "a.csv", [HEADER, GOOD, BAD_LINES[0]])

    def die(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. the process is stopped while writing the manifest row

    with monkeypatch.context() as patch:
        patch.setattr(spark_load, "_insert_file_row", die)
        with pytest.raises(KeyboardInterrupt):
            spark_load.load_file(spark, path)
    # no manifest row: staging (inner join on raw.files) sees nothing of the file
    assert _spark_rows(spark, "select count(*) from raw.files") == [(0,)]
    again = spark_load.load_file(spark, path)  # not skipped: it never finished
    assert (again.status, again.rows_loaded, again.rows_rejected) == ("loaded", 1, 1)
    assert _spark_rows(spark, "select count(*) from raw.transactions") == [(1,)]
    assert _spark_rows(spark, "select count(*), min(file_id) from raw.rejected_rows") == [(1, again.file_id)]


def test_a_refused_file_is_recorded_as_failed_with_its_reason(spark_warehouse, tmp_path):
    path = write_export(tmp_path / "bad_header.csv", ["Foo,Bar", "1,2"])
    result = spark_load.load_file(spark_warehouse.spark, path)
    assert result.status == "failed"
    assert "header does not match the layout" in result.message
    rows = _spark_rows(spark_warehouse.spark, "select status, error, rows_loaded from raw.files")
    assert rows == [("failed", result.message, None)]
    assert _spark_rows(spark_warehouse.spark, "select count(*) from raw.transactions") == [(0,)]
