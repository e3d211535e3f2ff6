"""The loader's fast path (load_arrow) against the exact Python path: the same rows, rejects, counts
and errors, on the corpus, every layout, crafted files and random text; or the Python path reads it."""

from __future__ import annotations

import csv
import gzip
import io
import logging
import random
from pathlib import Path

import pytest

from insiders import load_arrow
from insiders.db import raw_connection
from insiders.layouts import LAYOUTS_DIR, STANDARD_COLUMNS, load_layout
from insiders.load import (
    MAX_FIELD_CHARS,
    ParseCounts,
    RecordReader,
    ensure_raw_schema,
    file_facts,
    load_file,
    open_text,
    parse_batches,
)
from tests.conftest import require_shared_file
from tests.helpers import HEADER, cut_sample

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
ROW = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom"
ROW2 = '536366,22633,"HAND WARMER, UNION JACK",6,12/1/2010 8:28,1.85,17850,United Kingdom'


def python_rows(path: Path, layout) -> tuple[list[tuple], int]:
    """(rows as raw.transactions holds them, rejects) by the exact Python path."""
    facts = file_facts(path, layout, None)
    counts = ParseCounts()
    with open_text(path, facts) as text:
        records = RecordReader(text, layout, may_hold_nul=facts.has_nul)
        rows = [row for batch in parse_batches(records, 7, counts) for row in batch]
    counts.rejects.close()
    return [(f, n, *(v or None for v in values)) for f, n, *values in rows], counts.rows_rejected


def fast_rows(path: Path, layout) -> list[tuple] | str:
    """The rows the fast path's COPY text holds (as Postgres reads it: an empty field is NULL), or
    why the fast path sends the file to the Python path."""
    facts = file_facts(path, layout, None)
    with open_text(path, facts) as text:
        records = RecordReader(text, layout, may_hold_nul=facts.has_nul)
        header_lines = records.reader.line_num
    reason = load_arrow.python_path_reason(facts.has_nul, facts.encoding, layout, header_lines)
    if reason:
        return reason
    blocks = load_arrow.copy_text(
        path, is_gzip=facts.is_gzip, encoding=facts.encoding, lines=facts.lines, layout=layout,
        positions=records.positions, width=records.width, file_id=7, max_field_chars=MAX_FIELD_CHARS,
        loaded=[0],
    )  # fmt: skip
    try:
        text = b"".join(blocks).decode("utf-8")
    except load_arrow.MISMATCH as exc:
        return f"mismatch: {exc}"
    return [(int(f), int(n), *(v or None for v in values)) for f, n, *values in csv.reader(io.StringIO(text))]


def same_or_sent_back(path: Path, layout=None) -> str:
    """Assert the fast path gives the Python path's rows, or declines; say which."""
    layout = layout or load_layout()
    fast = fast_rows(path, layout)
    if isinstance(fast, str):
        return "python"
    rows, rejected = python_rows(path, layout)
    assert rejected == 0, path.name  # the fast path never loads a file the Python path rejects from
    assert fast == rows, path.name
    return "fast"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    raw = text.encode(encoding)
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return path


# name → (file text, encoding, path it takes)
CRAFTED = {
    "plain.csv.gz": (f"{HEADER}\n{ROW}\n{ROW2}\n", "latin-1", "fast"),
    "quoted_delimiters.csv": (f'{HEADER}\n536365,1,"A, B,, C",6,d,2.55,1,"UK, north"\n', "utf-8", "fast"),
    "quotes_in_values.csv": (
        f'{HEADER}\n536365,1,"12"" RULER",6,d,1,1,UK\n536366,2,5" PIN ""X",1,d,1,1,UK\n'
        f'536367,3,"A"B,1,d,1,1,UK\n536368,4,"""",1,d,1,1,UK\n',
        "utf-8",
        "fast",
    ),
    "empty_fields.csv": (f'{HEADER}\n536365,1,,6,d,2.55,"",UK\n,,,,,,,\n', "utf-8", "fast"),
    "spaces.csv": (f'{HEADER}\n 536365 ,1, A ,6,d,2.55, "x" ,UK \n', "utf-8", "fast"),
    "latin1.csv": (f"{HEADER}\n536365,1,CAFÉ CRÈME ½,6,d,2.55,1,España\n", "latin-1", "fast"),
    "utf8.csv": (f"{HEADER}\n536365,1,CAFÉ ☕,6,d,2.55,1,España\n", "utf-8", "fast"),
    "bom.csv": ("\ufeff" + f"{HEADER}\n{ROW}\n", "utf-8", "fast"),
    "crlf.csv": (f"{HEADER}\r\n{ROW}\r\n{ROW2}\r\n", "latin-1", "fast"),
    "bare_cr.csv": (f"{HEADER}\r{ROW}\r{ROW2}\r", "latin-1", "fast"),
    "no_final_newline.csv": (f"{HEADER}\n{ROW}\n{ROW2}", "latin-1", "fast"),
    "multi_line_record.csv": (
        f'{HEADER}\n{ROW}\n536366,1,"TWO\nLINES",6,d,2.55,1,UK\n{ROW2}\n',
        "utf-8",
        "python",
    ),
    "blank_lines.csv": (f"{HEADER}\n\n{ROW}\n\n\n{ROW2}\n\n", "latin-1", "python"),
    "blank_line_at_end.csv": (f"{HEADER}\n{ROW}\n\n", "latin-1", "python"),
    "wrong_widths.csv": (f"{HEADER}\n{ROW}\n1,2,3\n{ROW},extra\n{ROW2}\n", "latin-1", "python"),
    "nul.csv": (f"{HEADER}\n{ROW}\n536366,1,A\x00B,6,d,2.55,1,UK\n", "latin-1", "python"),
    "unterminated_quote.csv": (f'{HEADER}\n{ROW}\n536366,1,"OPEN,6,d,2.55,1,UK\n{ROW2}\n', "utf-8", "python"),
    "long_field.csv": (
        f"{HEADER}\n536366,1,{'X' * MAX_FIELD_CHARS},6,d,2.55,1,UK\n{ROW}\n",
        "utf-8",
        "python",
    ),
    "header_on_two_lines.csv": (HEADER.replace("Country", '"Coun\ntry"') + f"\n{ROW}\n", "utf-8", "python"),
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_files_give_the_python_paths_rows_or_take_the_python_path(name, tmp_path):
    text, encoding, expected = CRAFTED[name]
    path = write(tmp_path / name, text, encoding)
    if name == "header_on_two_lines.csv":
        layout = load_layout().model_copy(
            update={"columns": {**load_layout().columns, "country": "Coun\ntry"}}
        )
        assert same_or_sent_back(path, layout) == expected
        return
    assert same_or_sent_back(path) == expected


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.iterdir()))
def test_the_bad_input_corpus_gives_the_same_rows_by_both_paths(name):
    if file_facts(CORPUS / name, load_layout(), None).problem:
        pytest.skip("refused by sniff before either path reads it")
    try:
        same_or_sent_back(CORPUS / name)
    except Exception as exc:  # a file the header check refuses: refused the same way by both paths
        assert type(exc).__name__ in {"FileRefused", "UnicodeDecodeError"}, exc


@pytest.mark.parametrize("layout_file", sorted(p.name for p in LAYOUTS_DIR.glob("*.yml")))
def test_every_layout_takes_the_fast_path_with_the_same_rows(layout_file, tmp_path):
    layout = load_layout(str(LAYOUTS_DIR / layout_file))
    header = [layout.columns[c] for c in STANDARD_COLUMNS if c in layout.columns][::-1]  # reordered
    header += layout.ignore_columns
    d, q = layout.delimiter, layout.quotechar
    lines = [d.join(header)]
    for i in range(50):
        values = [f"v{i}_{j}" for j in range(len(header))]
        values[i % len(values)] = f"{q}a{d}b {q}{q}x{q}{q}{q}"  # a quoted delimiter and doubled quotes
        values[(i + 1) % len(values)] = ""
        lines.append(d.join(values))
    path = write(tmp_path / "export.csv", "\n".join(lines) + "\n")
    assert same_or_sent_back(path, layout) == "fast"


def test_random_text_gives_the_python_paths_rows_or_takes_the_python_path(tmp_path):
    """Fields made of delimiters, quotes, line breaks, spaces and non-ASCII letters at random: the
    fast path must agree with csv.reader wherever it does not send the file back."""
    rng = random.Random(11)
    pieces = ["a", "b", "1", ",", '"', '""', " ", "é", "\n", "\r\n", "\r"]
    weights = [30, 30, 30, 2, 2, 2, 3, 3, 0.3, 0.2, 0.1]

    def field() -> str:
        value = "".join(rng.choices(pieces, weights, k=rng.randint(0, 5)))
        return f'"{value}"' if rng.random() < 0.3 else value  # quoted, or bare with what it holds

    taken = {"fast": 0, "python": 0}
    for case in range(600):
        lines = [HEADER]
        for _ in range(rng.randint(0, 6)):
            lines.append(",".join(field() for _ in range(8)))
        newline = rng.choice(["\n", "\r\n"])
        encoding = rng.choice(["utf-8", "latin-1"])
        name = f"case{case}.csv" + rng.choice(["", ".gz"])
        path = write(tmp_path / name, newline.join(lines) + rng.choice([newline, ""]), encoding)
        taken[same_or_sent_back(path)] += 1
    assert taken["fast"] >= 100 and taken["python"] >= 100, taken  # both paths were exercised


def test_the_fast_path_is_checked_by_the_line_count(tmp_path):
    """A record over two lines is parsed by pyarrow as Python does, but its line numbers would shift:
    the count of records against the file's lines is what sends it back."""
    path = write(tmp_path / "two_lines.csv", f'{HEADER}\n536366,1,"TWO\nLINES",6,d,2.55,1,UK\n{ROW}\n')
    assert fast_rows(path, load_layout()) == "mismatch: 2 records + the header on 4 lines"


# --------------------------------------------------------------------- the whole load, both paths
def _tables(conn) -> dict[str, list]:
    with conn.cursor() as cur:
        cur.execute("select * from raw.transactions order by file_id, line_number")
        transactions = cur.fetchall()
        cur.execute("select file_id, line_number, raw_line, reason from raw.rejected_rows order by 1, 2")
        rejects = cur.fetchall()
        cur.execute(
            "select file_id, status, error, rows_in_file, rows_loaded, rows_rejected, encoding "
            "from raw.files order by file_id"
        )
        files = cur.fetchall()
    conn.rollback()
    return {"transactions": transactions, "rejects": rejects, "files": files}


def test_a_load_by_the_fast_path_equals_a_load_by_the_python_path(make_database, tmp_path, caplog):
    """The corpus, the crafted files and a sample of the shared file, loaded one after the other into
    two databases, by each path: the same results, raw rows, rejects and manifest after every file."""
    caplog.set_level(logging.INFO, logger="insiders.load")
    crafted = [write(tmp_path / name, text, enc) for name, (text, enc, _) in CRAFTED.items()]
    sample = cut_sample(require_shared_file(), tmp_path / "sample.csv.gz", 3_000, every=150)
    fast_taken = 0
    with raw_connection(make_database("exact")) as exact, raw_connection(make_database("fast")) as fast:
        ensure_raw_schema(exact)
        ensure_raw_schema(fast)
        for path in [*sorted(CORPUS.iterdir()), *crafted, sample]:
            by_python = load_file(exact, path, fast_path=False)
            caplog.clear()
            by_arrow = load_file(fast, path, fast_path=True)
            fast_taken += "read by the fast path" in caplog.text
            assert by_arrow.status == by_python.status, path.name
            assert by_arrow.message == by_python.message, path.name
            assert by_arrow.rows_in_file == by_python.rows_in_file, path.name
            assert (by_arrow.rows_loaded, by_arrow.rows_rejected) == (
                by_python.rows_loaded,
                by_python.rows_rejected,
            )
            assert _tables(fast) == _tables(exact), path.name
    assert fast_taken >= 20, fast_taken  # most of these files do take the fast path
