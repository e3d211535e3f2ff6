"""The loader against a real Postgres: COPY, manifest, rejects, idempotency, refused files."""

from __future__ import annotations

import gzip

import pytest
from typer.testing import CliRunner

from insiders.cli import app
from insiders.load import ensure_raw_schema, load_file, sniff
from tests.conftest import require_shared_file
from tests.helpers import HEADER, cut_sample, write_export

GOOD = [
    HEADER,
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
    '536366,22633,"HAND WARMER, UNION JACK",6,12/1/2010 8:28,1.85,17850,United Kingdom',
    "C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom",
]


def _count(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args or None)
        return cur.fetchone()[0]


@pytest.fixture
def conn(pg_conn):
    ensure_raw_schema(pg_conn)
    return pg_conn


def test_sample_of_the_shared_file_loads_row_for_row(conn, tmp_path):
    sample = cut_sample(require_shared_file(), tmp_path / "sample.csv.gz", 2_000)
    result = load_file(conn, sample)
    assert (result.status, result.rows_in_file, result.rows_loaded, result.rows_rejected) == (
        "loaded", 2_000, 2_000, 0,
    )  # fmt: skip
    assert _count(conn, "select count(*) from raw.transactions") == 2_000
    # values are kept as text, exactly as in the file; line numbers count the header as line 1
    with conn.cursor() as cur:
        cur.execute(
            "select line_number, invoice_no, quantity, invoice_date, unit_price, customer_id "
            "from raw.transactions order by line_number limit 1"
        )
        assert cur.fetchone() == (2, "536365", "6", "12/1/2010 8:26", "2.55", "17850")
        cur.execute("select status, rows_in_file, rows_loaded, rows_rejected, encoding from raw.files")
        assert cur.fetchone() == ("loaded", 2_000, 2_000, 0, "latin-1")


def test_loading_the_same_file_again_is_a_no_op_that_says_so(conn, tmp_path):
    path = write_export(tmp_path / "a.csv", GOOD)
    first = load_file(conn, path)
    copy = tmp_path / "same-bytes-other-name.csv"
    copy.write_bytes(path.read_bytes())
    second = load_file(conn, copy)
    assert first.status == "loaded"
    assert second.status == "skipped"
    assert "already loaded" in second.message and "a.csv" in second.message
    assert _count(conn, "select count(*) from raw.transactions") == 3
    assert _count(conn, "select count(*) from raw.files") == 1


def test_rows_with_the_wrong_number_of_fields_are_kept_as_rejects(conn, tmp_path):
    lines = [
        *GOOD,
        "536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,12/1/2010 8:34,1.69,13047",  # 7 fields
        "536367,84879,BIRD,ORNAMENT,32,12/1/2010 8:34,1.69,13047,United Kingdom",  # 9 fields
        "536368,22960,JAM MAKING SET WITH JARS,6,12/1/2010 8:34,4.25,13047,United Kingdom",
    ]
    result = load_file(conn, write_export(tmp_path / "b.csv", lines))
    assert (result.rows_in_file, result.rows_loaded, result.rows_rejected) == (6, 4, 2)
    assert result.rows_in_file == result.rows_loaded + result.rows_rejected
    with conn.cursor() as cur:
        cur.execute("select line_number, raw_line, reason from raw.rejected_rows order by line_number")
        rejects = cur.fetchall()
    assert [r[0] for r in rejects] == [5, 6]
    assert rejects[0][1] == lines[4]
    assert rejects[0][2] == "expected 8 fields, found 7"
    assert rejects[1][2] == "expected 8 fields, found 9"
    # the good row after the rejects keeps its own line number
    assert _count(conn, "select line_number from raw.transactions where invoice_no = '536368'") == 7


def test_a_file_with_a_wrong_header_is_refused_whole_and_recorded(conn, tmp_path):
    bad_header = "InvoiceNo,StockCode,Description,Qty,InvoiceDate,UnitPrice,CustomerID,Country,Channel"
    result = load_file(conn, write_export(tmp_path / "c.csv", [bad_header, *GOOD[1:]]))
    assert result.status == "failed"
    assert "missing columns: Quantity" in result.message
    assert "unexpected columns: 'Qty', 'Channel'" in result.message
    assert _count(conn, "select count(*) from raw.transactions") == 0
    assert _count(conn, "select count(*) from raw.files where status = 'failed' and error like '%Qty%'") == 1


def test_reordered_columns_load_into_the_right_fields(conn, tmp_path):
    lines = [
        "Country,CustomerID,UnitPrice,InvoiceDate,Quantity,Description,StockCode,InvoiceNo",
        "France,12680,4.95,12/9/2011 12:50,4,BAKING SET,23256,581587",
    ]
    result = load_file(conn, write_export(tmp_path / "d.csv.gz", lines))
    assert result.status == "loaded"
    with conn.cursor() as cur:
        cur.execute(
            "select invoice_no, stock_code, quantity, unit_price, customer_id, country from raw.transactions"
        )
        assert cur.fetchone() == ("581587", "23256", "4", "4.95", "12680", "France")


def test_utf8_files_are_decoded_as_utf8_and_latin1_as_latin1(conn, tmp_path):
    row = "536365,85123A,CAFÉ SET £5,6,12/1/2010 8:26,2.55,17850,Bélgica"
    utf8 = write_export(tmp_path / "u.csv", [HEADER, row], encoding="utf-8")
    latin = write_export(tmp_path / "l.csv", [HEADER, row.replace("36365", "36366")], encoding="latin-1")
    assert sniff(utf8).encoding == "utf-8"
    assert sniff(latin).encoding == "latin-1"
    load_file(conn, utf8)
    load_file(conn, latin)
    with conn.cursor() as cur:
        cur.execute("select distinct description, country from raw.transactions")
        assert cur.fetchall() == [("CAFÉ SET £5", "Bélgica")]


def test_a_truncated_gzip_is_refused_without_loading_anything(conn, tmp_path):
    good = cut_sample(require_shared_file(), tmp_path / "full.csv.gz", 5_000)
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    result = load_file(conn, truncated)
    assert result.status == "failed"
    assert "truncated" in result.message or "gzip" in result.message
    assert _count(conn, "select count(*) from raw.transactions") == 0


def test_quoted_multiline_descriptions_keep_their_starting_line_number(conn, tmp_path):
    lines = [HEADER, '536365,85123A,"TWO\nLINES",6,12/1/2010 8:26,2.55,17850,United Kingdom', GOOD[1]]
    result = load_file(conn, write_export(tmp_path / "m.csv", lines))
    assert (result.rows_in_file, result.rows_loaded) == (2, 2)
    with conn.cursor() as cur:
        cur.execute("select line_number, description from raw.transactions order by line_number")
        assert cur.fetchall() == [(2, "TWO\nLINES"), (4, GOOD[1].split(",")[2])]


def test_cli_load_prints_rows_in_loaded_and_rejected(database_url, tmp_path, monkeypatch):
    path = write_export(tmp_path / "e.csv.gz", [*GOOD, "1,2,3"])
    monkeypatch.setenv("INSIDERS_DATABASE_URL", database_url.render_as_string(hide_password=False))
    monkeypatch.setenv("INSIDERS_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["load", str(path)])
    assert result.exit_code == 0, result.output
    assert "4 rows in file, 3 loaded, 1 rejected" in result.output
    again = CliRunner().invoke(app, ["load", str(path)])
    assert "skipped" in again.output and "already loaded" in again.output


def test_cli_load_of_a_missing_file_is_one_clear_line(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("INSIDERS_DATABASE_URL", database_url.render_as_string(hide_password=False))
    result = CliRunner().invoke(app, ["load", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
    assert "Traceback" not in result.output


def test_gzip_and_plain_text_of_the_same_rows_load_the_same_values(conn, tmp_path):
    plain = write_export(tmp_path / "p.csv", GOOD)
    gz = tmp_path / "p2.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes().replace(b"536365", b"536399")))
    assert load_file(conn, plain).rows_loaded == load_file(conn, gz).rows_loaded == 3
