"""Loader memory stays bounded (issue 14, item 7): a 2 GB line inside a small .gz is refused at once
with the process well under 500 MB, a gzip bomb stops at the decompressed-bytes cap, a million
rejected rows are streamed (not held), and a file that killed the loading process is not retried
forever. Each runs in a real subprocess where it measures something (peak RSS from /proc, exit status)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from insiders.load import MAX_DEATHS, ensure_raw_schema, load_file
from tests.helpers import HEADER, write_export

GOOD_ROW = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom"

# Loads one file in a fresh interpreter and prints the result and the process's peak RSS (MB).
LOAD_AND_MEASURE = """
import json, sys
from pathlib import Path
from insiders.db import raw_connection
from insiders.load import LoadLimits, ensure_raw_schema, load_file
from sqlalchemy.engine import make_url
url, path = make_url(sys.argv[1]), Path(sys.argv[2])
limits = LoadLimits(**json.loads(sys.argv[3]))
with raw_connection(url) as conn:
    ensure_raw_schema(conn)
    r = load_file(conn, path, limits=limits)
# VmHWM: the peak RSS of this process since exec (getrusage's ru_maxrss can carry the forking
# parent's peak over exec, i.e. pytest's, not the loader's)
status = Path("/proc/self/status").read_text()
hwm_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
peak_mb = hwm_kb / 1024
print(json.dumps({"status": r.status, "message": r.message, "rows_loaded": r.rows_loaded,
                  "rows_rejected": r.rows_rejected, "rows_in_file": r.rows_in_file, "peak_mb": peak_mb}))
"""


def _load_in_subprocess(database_url, path: Path, **limits) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_MEASURE, database_url.render_as_string(hide_password=False),
         str(path), json.dumps(limits)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _gzip_of_one_long_line(path: Path, gigabytes: int) -> Path:
    """Header, then one line of `gigabytes` GB of 'X' (no newline): concatenated gzip members of one
    64 MB block, so the file is a few MB and writing it takes well under a second."""
    block = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    member = block.compress(b"X" * (64 << 20)) + block.flush()
    with path.open("wb") as out:
        out.write(gzip.compress((HEADER + "\n").encode()))
        for _ in range(gigabytes * 16):
            out.write(member)
    return path


def test_a_2gb_line_in_a_small_gzip_is_refused_with_bounded_memory(database_url, tmp_path):
    bomb = _gzip_of_one_long_line(tmp_path / "one_line.csv.gz", gigabytes=2)
    assert bomb.stat().st_size < 20 << 20  # a small file on disk
    result = _load_in_subprocess(database_url, bomb)
    assert result["status"] == "failed"
    assert "line 2 is longer than 1,048,576 bytes (INSIDERS_MAX_LINE_BYTES)" in result["message"]
    assert result["peak_mb"] < 500, result
    print(f"2 GB line refused; peak RSS {result['peak_mb']:.0f} MB")


def test_a_gzip_bomb_stops_at_the_decompressed_bytes_cap(database_url, tmp_path):
    path = tmp_path / "bomb.csv.gz"
    lines = [HEADER] + [GOOD_ROW] * 200_000  # ~19 MB of text, ~100 kB compressed
    write_export(path, lines)
    result = _load_in_subprocess(database_url, path, max_decompressed_bytes=5 << 20)
    assert result["status"] == "failed"
    assert "more than 5,242,880 bytes of text (INSIDERS_MAX_DECOMPRESSED_BYTES)" in result["message"]
    result = _load_in_subprocess(database_url, path, max_decompressed_bytes=50 << 20)  # under the cap: loads
    assert (result["status"], result["rows_loaded"]) == ("loaded", 200_000)


def test_two_million_rows_by_the_fast_path_are_streamed_not_held(database_url, tmp_path):
    path = tmp_path / "big.csv.gz"  # ~190 MB of text: held whole, it alone would pass the bound below
    rows = (GOOD_ROW.replace("536365", str(536365 + i % 1000)) for i in range(2_000_000))
    with gzip.open(path, "wt", encoding="latin-1", compresslevel=1) as out:
        out.write(HEADER + "\n")
        out.writelines(row + "\n" for row in rows)
    result = _load_in_subprocess(database_url, path)
    assert (result["status"], result["rows_loaded"], result["rows_rejected"]) == ("loaded", 2_000_000, 0)
    assert result["peak_mb"] < 300, result  # a few blocks of the file in flight, not the file
    print(f"2,000,000 rows by the fast path; peak RSS {result['peak_mb']:.0f} MB")


def test_a_million_rejected_rows_are_streamed_not_held(database_url, tmp_path):
    path = tmp_path / "rejects.csv.gz"
    bad = "1,2,3"  # 3 fields instead of 8
    write_export(path, [HEADER, GOOD_ROW, *([bad] * 1_000_000), GOOD_ROW.replace("536365", "536366")])
    result = _load_in_subprocess(database_url, path)
    assert (result["status"], result["rows_loaded"], result["rows_rejected"]) == ("loaded", 2, 1_000_000)
    assert result["rows_in_file"] == result["rows_loaded"] + result["rows_rejected"]
    assert result["peak_mb"] < 300, result  # the reject list lives in a temp file, COPY reads batches
    print(f"1,000,000 rejects; peak RSS {result['peak_mb']:.0f} MB")


# Loads a file and dies (SIGKILL) in the middle of it, as an out-of-memory kill would.
LOAD_AND_DIE = """
import os, signal, sys
from pathlib import Path
from insiders import load
from insiders.db import raw_connection
from sqlalchemy.engine import make_url
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
    yield
load.parse_batches = die
load.load_arrow.copy_text = die  # the fast path, which most files take
with raw_connection(make_url(sys.argv[1])) as conn:
    load.ensure_raw_schema(conn)
    load.load_file(conn, Path(sys.argv[2]))
"""


def test_a_file_that_kills_the_loader_is_refused_after_a_retry_and_the_others_go_on(
    database_url, pg_conn, tmp_path
):
    poison = write_export(tmp_path / "poison.csv", [HEADER, GOOD_ROW])
    other = write_export(tmp_path / "other.csv", [HEADER, GOOD_ROW.replace("536365", "536399")])
    ensure_raw_schema(pg_conn)
    url = database_url.render_as_string(hide_password=False)
    for _ in range(MAX_DEATHS):
        died = subprocess.run(
            [sys.executable, "-c", LOAD_AND_DIE, url, str(poison)], timeout=120, check=False
        )
        assert died.returncode == -9
    with pg_conn.cursor() as cur:
        cur.execute("select status, error like 'died:%%' from raw.files order by file_id")
        assert cur.fetchall() == [
            ("failed", True),
            ("failed", False),
        ]  # the second one: seen at the next load
    pg_conn.rollback()

    refused = load_file(pg_conn, poison)  # a later cycle: refused in one line, without reading it
    assert refused.status == "failed"
    assert f"{MAX_DEATHS} earlier loads of this file died before finishing" in refused.message
    assert "delete those raw.files rows to try again" in refused.message
    assert load_file(pg_conn, other).status == "loaded"  # the other files go on
    with pg_conn.cursor() as cur:
        cur.execute("select count(*) from raw.transactions")
        assert cur.fetchone()[0] == 1


def test_one_death_is_retried_and_then_loads(database_url, pg_conn, tmp_path):
    path = write_export(tmp_path / "a.csv", [HEADER, GOOD_ROW])
    ensure_raw_schema(pg_conn)
    url = database_url.render_as_string(hide_password=False)
    subprocess.run([sys.executable, "-c", LOAD_AND_DIE, url, str(path)], timeout=120, check=False)
    result = load_file(pg_conn, path)
    assert (result.status, result.rows_loaded) == ("loaded", 1)
    with pg_conn.cursor() as cur:
        cur.execute("select status, left(error, 5) from raw.files order by file_id")
        assert cur.fetchall() == [("failed", "died:"), ("loaded", None)]


@pytest.mark.parametrize("env", [{"INSIDERS_MAX_LINE_BYTES": "1000"}])
def test_caps_below_the_read_chunk_are_refused_as_settings(env, monkeypatch):
    from pydantic import ValidationError

    from insiders.settings import Settings

    for key, value in env.items():
        monkeypatch.setitem(os.environ, key, value)
    with pytest.raises(ValidationError):
        Settings()
