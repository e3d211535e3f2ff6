"""scripts/generate_data.py on a cut of the shared file: rows, ids per copy, cancellations, guests, years."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from insiders.settings import PROJECT_ROOT
from tests.conftest import require_shared_file
from tests.helpers import HEADER, cut_sample

SCRIPT = PROJECT_ROOT / "scripts" / "generate_data.py"
_spec = importlib.util.spec_from_file_location("generate_data", SCRIPT)
gen = importlib.util.module_from_spec(_spec)
sys.modules["generate_data"] = gen  # dataclasses look their module up by name
_spec.loader.exec_module(gen)

A_LINES = [  # the shared file's three bad-debt adjustments (guests, prefix A)
    "A563185,B,Adjust bad debt,1,8/12/2011 14:50,11062.06,,United Kingdom",
    "A563186,B,Adjust bad debt,1,8/12/2011 14:51,-11062.06,,United Kingdom",
    "A563187,B,Adjust bad debt,1,8/12/2011 14:52,-11062.06,,United Kingdom",
]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """One line in 100 of the whole year (cancellations, guests, quoted descriptions, the last day)
    plus the three A lines."""
    path = cut_sample(require_shared_file(), tmp_path_factory.mktemp("gen") / "cut.csv", 5_419, every=100)
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(f"{line}\n" for line in A_LINES)
    gz = path.with_suffix(".csv.gz")
    gz.write_bytes(gzip.compress(path.read_bytes()))
    return gz


def read_rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def split_copies(rows: list[dict], n_source: int, scale: int) -> list[list[dict]]:
    assert len(rows) == n_source * scale
    return [rows[i * n_source : (i + 1) * n_source] for i in range(scale)]


def test_scale_one_is_the_source_byte_for_byte(sample, tmp_path):
    out = tmp_path / "x1.csv.gz"
    gen.generate(sample, out, 1)
    assert gzip.decompress(out.read_bytes()) == gzip.decompress(sample.read_bytes())


def test_copies_have_their_own_ids_and_keep_everything_else(sample, tmp_path):
    source = read_rows(sample)
    out = tmp_path / "x12.csv.gz"
    written = gen.generate(sample, out, 12)
    rows = read_rows(out)
    assert written == {out: len(source) * 12}
    copies = split_copies(rows, len(source), 12)
    invoices, customers = [], []
    for k, copy in enumerate(copies):
        for src, row in zip(source, copy, strict=True):
            # everything but the ids is the source line, the cancellation prefix included
            assert {c: row[c] for c in row if c not in ("InvoiceNo", "CustomerID")} == {
                c: src[c] for c in src if c not in ("InvoiceNo", "CustomerID")
            }
            prefix = src["InvoiceNo"][0] if src["InvoiceNo"][0] in "CA" else ""
            number = int(src["InvoiceNo"].removeprefix(prefix))
            assert row["InvoiceNo"] == f"{prefix}{k * 10**6 + number}"
            assert (row["CustomerID"] == "") == (src["CustomerID"] == "")  # guests stay guests
            if src["CustomerID"]:
                assert int(row["CustomerID"]) == k * 10**5 + int(src["CustomerID"])
        invoices.append({r["InvoiceNo"] for r in copy})
        customers.append({r["CustomerID"] for r in copy if r["CustomerID"]})
    # one copy maps ids one to one, and no two copies share an id
    assert all(len(s) == len(invoices[0]) for s in invoices)
    assert len(set().union(*invoices)) == 12 * len(invoices[0])
    assert len(set().union(*customers)) == 12 * len(customers[0])
    for prefix in ("C", "A"):
        n = sum(r["InvoiceNo"].startswith(prefix) for r in source)
        assert n > 0
        assert sum(r["InvoiceNo"].startswith(prefix) for r in rows) == 12 * n
    assert all(int(r["Quantity"]) < 0 for r in rows if r["InvoiceNo"].startswith("C"))


def test_years_shift_each_copy_back_and_keep_the_customers(sample, tmp_path):
    source = read_rows(sample)
    out = tmp_path / "y3.csv.gz"
    gen.generate(sample, out, 3, years=True)
    copies = split_copies(read_rows(out), len(source), 3)  # oldest first
    for copy, shift in zip(copies, (2, 1, 0), strict=True):
        for src, row in zip(source, copy, strict=True):
            day, _, year = src["InvoiceDate"].partition(" ")[0].rpartition("/")
            assert row["InvoiceDate"].startswith(f"{day}/{int(year) - shift} ")
            assert row["CustomerID"] == src["CustomerID"]
    invoices = [{r["InvoiceNo"] for r in copy} for copy in copies]
    assert len(set().union(*invoices)) == 3 * len(invoices[0])


def test_daily_splits_off_the_last_day_and_loses_no_line(sample, tmp_path):
    out = tmp_path / "x2.csv.gz"
    written = gen.generate(sample, out, 2, daily=True)
    day_file = gen.day_path(out)
    history, day = read_rows(out), read_rows(day_file)
    assert written == {out: len(history), day_file: len(day)}
    assert len(history) + len(day) == 2 * len(read_rows(sample))
    assert day and {r["InvoiceDate"].split(" ")[0] for r in day} == {"12/9/2011"}
    assert not any(r["InvoiceDate"].startswith("12/9/2011 ") for r in history)


def test_years_daily_keeps_older_copies_last_day_in_the_history(sample, tmp_path):
    out = tmp_path / "y2.csv.gz"
    gen.generate(sample, out, 2, years=True, daily=True)
    assert {r["InvoiceDate"].split(" ")[0] for r in read_rows(gen.day_path(out))} == {"12/9/2011"}
    assert any(r["InvoiceDate"].startswith("12/9/2010 ") for r in read_rows(out))


def test_output_is_deterministic(sample, tmp_path):
    first, second = tmp_path / "a.csv.gz", tmp_path / "b.csv.gz"
    gen.generate(sample, first, 3)
    gen.generate(sample, second, 3)
    assert first.read_bytes() == second.read_bytes()


def test_a_source_in_another_layout_is_one_clear_error_and_leaves_no_file(tmp_path):
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(f"{HEADER}\n1234567,X,Y,1,12/1/2010 8:26,1.0,17850,UK\n".encode()))
    out = tmp_path / "out.csv.gz"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--scale", "2", "--source", str(bad), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: line 2: invoice, date or customer id not in the shared file's format"
    ]
    assert not out.exists() and not list(tmp_path.glob(".out*"))
