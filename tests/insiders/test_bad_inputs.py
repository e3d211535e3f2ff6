"""The bad-input corpus (tests/data/bad_inputs): every file is loaded correctly or refused/rejected
with a clear reason; never a crash; always rows in file = rows loaded + rows rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from insiders.cli import app
from insiders.load import ensure_raw_schema, load_file
from tests.helpers import HEADER

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"

# file → (status, rows in file, rows loaded, rows rejected, words the message or a reject reason contains)
EXPECTED = {
    "01_empty.csv": ("failed", 0, 0, 0, "empty file"),
    "02_header_only.csv": ("loaded", 0, 0, 0, ""),
    "03_missing_column.csv": ("failed", 0, 0, 0, "missing columns: Country"),
    "04_extra_column.csv": ("failed", 0, 0, 0, "unexpected columns: 'Channel'"),
    "05_reordered_columns.csv": ("loaded", 1, 1, 0, ""),
    "06_utf8.csv": ("loaded", 1, 1, 0, ""),
    "07_utf8_bom.csv": ("loaded", 1, 1, 0, ""),
    "08_windows_line_endings.csv": ("loaded", 2, 2, 0, ""),
    "09_truncated.csv.gz": ("failed", 0, 0, 0, "truncated"),
    "10_plain_text_named_gz.csv.gz": ("loaded", 1, 1, 0, ""),
    "11_non_numeric_quantity.csv": ("loaded", 2, 2, 0, ""),  # dbt counts the bad cast
    "12_unparseable_date.csv": ("loaded", 2, 2, 0, ""),  # dbt counts the bad casts
    "13_iso_dates.csv": ("loaded", 2, 2, 0, ""),
    "14_huge_numbers.csv": ("loaded", 3, 3, 0, ""),  # dbt counts the out-of-range values
    "15_quotes_and_commas.csv": ("loaded", 2, 2, 0, ""),
    "16_wrong_field_counts.csv": ("loaded", 4, 1, 3, "expected 8 fields, found 7"),
    "17_semicolon_delimited.csv": ("failed", 0, 0, 0, "header does not match"),
    "18_binary_garbage.csv": ("failed", 0, 0, 0, "header"),
    "19_nul_byte.csv": ("loaded", 2, 1, 1, "NUL"),
    "20_blank_lines.csv": ("loaded", 2, 2, 0, ""),
    "21_unterminated_quote.csv": ("loaded", 2, 1, 1, "expected 8 fields, found 3"),
    "22_negative_and_zero_prices.csv": ("loaded", 3, 3, 0, ""),  # dbt leaves them out of purchases
    "23_lowercase_header_and_spaces.csv": ("loaded", 1, 1, 0, ""),
    "24_guest_and_float_ids.csv": ("loaded", 2, 2, 0, ""),
    "25_latin1_accents.csv": ("loaded", 1, 1, 0, ""),
    "26_duplicate_of_05_under_another_name.csv": ("skipped", 0, 0, 0, "already loaded"),
}


def test_the_corpus_is_complete():
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)
    assert len(EXPECTED) >= 20


@pytest.fixture
def conn(pg_conn):
    ensure_raw_schema(pg_conn)
    return pg_conn


def _reasons(conn, file_id) -> str:
    with conn.cursor() as cur:
        cur.execute("select string_agg(reason, ' | ') from raw.rejected_rows where file_id = %s", (file_id,))
        return cur.fetchone()[0] or ""


def test_every_bad_input_is_loaded_or_refused_with_a_reason(conn):
    for name, (status, rows_in, loaded, rejected, words) in EXPECTED.items():
        result = load_file(conn, CORPUS / name)
        got = (result.status, result.rows_in_file, result.rows_loaded, result.rows_rejected)
        assert got == (status, rows_in, loaded, rejected), name
        assert result.rows_in_file == result.rows_loaded + result.rows_rejected, name
        if status in {"failed", "skipped"}:
            assert words in result.message, (name, result.message)
        elif rejected:
            assert words in _reasons(conn, result.file_id), name
    with conn.cursor() as cur:  # the manifest agrees with the tables, file by file
        cur.execute(
            """select f.file_name from raw.files f
               left join (select file_id, count(*) n from raw.transactions group by 1) t using (file_id)
               left join (select file_id, count(*) n from raw.rejected_rows group by 1) r using (file_id)
               where f.status = 'loaded'
                 and f.rows_in_file <> coalesce(t.n, 0) + coalesce(r.n, 0)"""
        )
        assert cur.fetchall() == []


def test_harmless_variations_load_the_same_values(conn):
    harmless = ["05_reordered_columns.csv", "06_utf8.csv", "07_utf8_bom.csv", "08_windows_line_endings.csv"]
    harmless += ["15_quotes_and_commas.csv", "23_lowercase_header_and_spaces.csv", "25_latin1_accents.csv"]
    for name in harmless:
        load_file(conn, CORPUS / name)
    with conn.cursor() as cur:
        cur.execute("select invoice_no, stock_code, description, quantity, country from raw.transactions")
        rows = set(cur.fetchall())
    assert ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "United Kingdom") in rows
    assert ("536365", "85123A", "CAFÉ £ WHITE HEART T-LIGHT HOLDER", "6", "United Kingdom") in rows
    assert ("536366", "22633", "CRÈME HAND WARMER UNION JACK", "6", "United Kingdom") in rows
    assert ("536370", "22728", 'ALARM CLOCK, "BAKELIKE" PINK', "24", "France") in rows
    assert ("536371", "22727", "RED, WHITE\nAND BLUE", "24", "France") in rows
    assert ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "Côte d'Ivoire") in rows
    assert not any(v.endswith("\r") for row in rows for v in row)


def test_a_huge_field_is_rejected_not_loaded(conn, tmp_path):
    path = tmp_path / "huge_field.csv"
    huge = "X" * 300_000
    path.write_text(f"{HEADER}\n536365,85123A,{huge},6,12/1/2010 8:26,2.55,17850,United Kingdom\n", "latin-1")
    result = load_file(conn, path)
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 0, 1)
    assert "field larger than field limit" in _reasons(conn, result.file_id)
    with conn.cursor() as cur:
        cur.execute("select length(raw_line) from raw.rejected_rows")
        assert cur.fetchone()[0] < 11_000  # the raw text kept is cut, and says so


def test_cli_load_of_the_whole_corpus_never_shows_a_traceback(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("INSIDERS_DATABASE_URL", database_url.render_as_string(hide_password=False))
    monkeypatch.setenv("INSIDERS_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["load", str(CORPUS)])
    assert result.exit_code == 5, result.output  # some files refused: the exit code says so
    assert "Traceback" not in result.output
    assert result.output.count(": failed: ") == sum(v[0] == "failed" for v in EXPECTED.values())
