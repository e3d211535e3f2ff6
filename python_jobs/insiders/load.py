"""Loader: shop CSV exports → ``raw`` schema, with Postgres COPY, a manifest and kept rejects.

One file is one transaction: either all its parseable rows are in ``raw.transactions`` (and the rows
that could not be parsed in ``raw.rejected_rows``) with a ``loaded`` row in ``raw.files``, or nothing
of it is, and ``raw.files`` records the attempt as ``failed`` with the reason.

Always: rows in file = rows loaded + rows rejected. Values stay text here; casting is dbt's job.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import logging
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import IO

import psycopg2
import psycopg2.errors

log = logging.getLogger(__name__)

# The shop's export layout, in its usual order, and the raw column each header maps to.
HEADER_TO_COLUMN = {
    "InvoiceNo": "invoice_no",
    "StockCode": "stock_code",
    "Description": "description",
    "Quantity": "quantity",
    "InvoiceDate": "invoice_date",
    "UnitPrice": "unit_price",
    "CustomerID": "customer_id",
    "Country": "country",
}
RAW_COLUMNS = tuple(HEADER_TO_COLUMN.values())
MAX_FIELD_CHARS = 100_000  # a longer field is not a shop export value: the row is rejected
MAX_KEPT_LINE_CHARS = 10_000  # rejected raw text is kept up to this length
CHUNK = 1 << 20


class FileRefused(Exception):
    """The whole file is refused (bad header, unreadable gzip...); nothing of it is loaded."""


@dataclass(frozen=True)
class LoadResult:
    source_uri: str
    status: str  # loaded | skipped | failed
    file_id: int | None = None
    rows_in_file: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    message: str = ""
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------ schema
def ensure_raw_schema(conn) -> None:
    ddl = resources.files("insiders").joinpath("sql/raw_schema.sql").read_text()
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('insiders.raw_schema'))")
        cur.execute(ddl)
    conn.commit()


# ----------------------------------------------------------------------------------- file sniffing
@dataclass(frozen=True)
class FileFacts:
    sha256: str
    size_bytes: int
    is_gzip: bool
    encoding: str
    problem: str | None  # why the bytes cannot be read at all (e.g. truncated gzip)


def sniff(path: Path) -> FileFacts:
    """One pass over the bytes: hash, size, gzip integrity and text encoding.

    The encoding is UTF-8 when the text has a UTF-8 BOM or is valid UTF-8 with non-ASCII
    characters; otherwise Latin-1, the shop's export encoding (which can decode any byte).
    """
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        head = fh.read(2)
        is_gzip = head == b"\x1f\x8b"
        fh.seek(0)
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if is_gzip else None
        utf8 = codecs.getincrementaldecoder("utf-8")()
        is_utf8, has_non_ascii, first_bytes, problem = True, False, b"", None
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if problem:
                continue
            data = chunk
            if inflater is not None:
                try:
                    data = inflater.decompress(chunk)
                    while inflater.eof and inflater.unused_data:  # concatenated gzip members
                        rest = inflater.unused_data
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                        data += inflater.decompress(rest)
                except zlib.error as exc:
                    problem = f"unreadable gzip data: {exc}"
                    continue
            if len(first_bytes) < 3:
                first_bytes += data[:3]
            if is_utf8:
                if not has_non_ascii and not data.isascii():
                    has_non_ascii = True
                try:
                    utf8.decode(data)
                except UnicodeDecodeError:
                    is_utf8 = False
        if inflater is not None and not problem and not inflater.eof:
            problem = "unreadable gzip data: the file is truncated"
        if is_utf8 and not problem:
            try:
                utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                is_utf8 = False
    if first_bytes.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif is_utf8 and has_non_ascii:
        encoding = "utf-8"
    else:
        encoding = "latin-1"
    return FileFacts(digest.hexdigest(), size, is_gzip, encoding, problem)


def open_text(path: Path, facts: FileFacts) -> IO[str]:
    raw = gzip.open(path, "rb") if facts.is_gzip else path.open("rb")  # noqa: SIM115 (wrapper owns it)
    return io.TextIOWrapper(raw, encoding=facts.encoding, newline="")


# ------------------------------------------------------------------------------------------ parsing
class _LineRecorder:
    """Feeds lines to csv.reader while remembering the raw text and first line of each record."""

    def __init__(self, lines: Iterable[str]):
        self._lines = iter(lines)
        self.line_no = 0
        self.record_start = 1
        self.buffer: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.line_no += 1
        self.buffer.append(line)
        return line

    def take(self) -> tuple[int, str]:
        """Start line and raw text of the record just read; resets for the next record."""
        start, text = self.line_no - len(self.buffer) + 1, "".join(self.buffer)
        self.buffer = []
        return start, text.rstrip("\r\n")


def header_mapping(header: list[str]) -> list[int]:
    """Position in the file of each raw column, or FileRefused naming missing/unexpected columns."""
    names = [h.strip().lstrip("\ufeff").strip().strip('"') for h in header]
    lookup = {k.lower(): k for k in HEADER_TO_COLUMN}
    canonical = [lookup.get(n.lower(), n) for n in names]
    missing = [h for h in HEADER_TO_COLUMN if h not in canonical]
    unexpected = [n for n in canonical if n not in HEADER_TO_COLUMN]
    duplicated = sorted({n for n in canonical if canonical.count(n) > 1 and n in HEADER_TO_COLUMN})
    if missing or unexpected or duplicated:
        parts = []
        if missing:
            parts.append("missing columns: " + ", ".join(missing))
        if unexpected:
            parts.append("unexpected columns: " + ", ".join(repr(u) for u in unexpected))
        if duplicated:
            parts.append("duplicated columns: " + ", ".join(duplicated))
        expected = ",".join(HEADER_TO_COLUMN)
        raise FileRefused(f"header does not match the shop export ({expected}): " + "; ".join(parts))
    return [canonical.index(h) for h in HEADER_TO_COLUMN]


@dataclass
class ParseCounts:
    rows_in_file: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0


class RecordReader:
    """Reads the header at once (so a bad one refuses the file before any COPY starts), then records."""

    def __init__(self, text: IO[str]):
        self.recorder = _LineRecorder(text)
        self.reader = csv.reader(self.recorder, strict=False)
        try:
            header = next(self.reader)
        except StopIteration:
            raise FileRefused("empty file: no header line") from None
        except csv.Error as exc:
            raise FileRefused(f"unreadable header: {exc}") from None
        self.recorder.take()
        self.positions = header_mapping(header)
        self.width = len(header)


def parse_records(
    records: RecordReader, file_id: int, rejects: IO[str], counts: ParseCounts
) -> Iterator[tuple]:
    """Yield (file_id, line_number, 8 raw values) per good record; write rejects as CSV rows."""
    recorder, reader = records.recorder, records.reader
    positions, width = records.positions, records.width
    reject_writer = csv.writer(rejects, lineterminator="\n")

    def reject(line_no: int, raw: str, reason: str) -> None:
        counts.rows_in_file += 1
        counts.rows_rejected += 1
        if len(raw) > MAX_KEPT_LINE_CHARS:
            raw = raw[:MAX_KEPT_LINE_CHARS] + f"… [{len(raw) - MAX_KEPT_LINE_CHARS} more characters cut]"
        reject_writer.writerow((file_id, line_no, raw.replace("\x00", "\\0"), reason))

    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line_no, raw = recorder.take()
            reject(line_no, raw, f"unparseable CSV: {exc}")
            continue
        line_no, raw = recorder.take()
        if not row:  # an empty line is not a record
            continue
        if len(row) != width:
            reject(line_no, raw, f"expected {width} fields, found {len(row)}")
            continue
        if any("\x00" in v for v in row):
            reject(line_no, raw, "contains a NUL character")
            continue
        if any(len(v) > MAX_FIELD_CHARS for v in row):
            reject(line_no, raw, f"a field is longer than {MAX_FIELD_CHARS} characters")
            continue
        counts.rows_in_file += 1
        counts.rows_loaded += 1
        yield (file_id, line_no, *(row[p] for p in positions))


class _CsvStream(io.RawIOBase):
    """A read()-able stream of CSV text made from an iterator of rows, for COPY FROM STDIN."""

    def __init__(self, rows: Iterator[tuple]):
        self._rows = rows
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, lineterminator="\n")
        self._pending = b""
        self.error: BaseException | None = None  # what broke the row iterator, if anything

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._read(size)
        except BaseException as exc:  # psycopg2 would wrap it into QueryCanceled: keep the original
            self.error = exc
            raise

    def _read(self, size: int) -> bytes:
        want = CHUNK if size is None or size < 0 else size
        while len(self._pending) < want:
            batch = 0
            for row in self._rows:
                self._writer.writerow(row)
                batch += 1
                if batch >= 2000:
                    break
            if batch == 0:
                break
            self._pending += self._buf.getvalue().encode("utf-8")
            self._buf.seek(0)
            self._buf.truncate()
        out, self._pending = self._pending[:want], self._pending[want:]
        return out


# ------------------------------------------------------------------------------------------ loading
def _already_loaded(cur, sha256: str):
    cur.execute(
        "select file_id, file_name, loaded_at from raw.files where sha256 = %s and status = 'loaded'",
        (sha256,),
    )
    return cur.fetchone()


def _record_failure(conn, *, file_name, source_uri, facts, etag, started_at, error) -> int:
    with conn.cursor() as cur:
        cur.execute(
            """insert into raw.files (file_name, source_uri, sha256, etag, size_bytes, encoding, status,
                                      error, started_at)
               values (%s, %s, %s, %s, %s, %s, 'failed', %s, %s) returning file_id""",
            (file_name, source_uri, facts.sha256, etag, facts.size_bytes, facts.encoding, error, started_at),
        )
        file_id = cur.fetchone()[0]
    conn.commit()
    return file_id


def load_file(
    conn, path: Path, *, source_uri: str | None = None, file_name: str | None = None, etag: str | None = None
) -> LoadResult:
    """Load one local file (already downloaded when it came from S3) in one transaction."""
    t0 = time.perf_counter()
    started_at = datetime.now(UTC)
    source_uri = source_uri or str(path.resolve())
    file_name = file_name or path.name
    facts = sniff(path)
    with conn.cursor() as cur:
        done = _already_loaded(cur, facts.sha256)
    conn.rollback()
    if done:
        msg = f"already loaded as file {done[0]} ({done[1]}) on {done[2]:%Y-%m-%d %H:%M}; skipped"
        return LoadResult(source_uri, "skipped", done[0], message=msg, seconds=time.perf_counter() - t0)
    counts = ParseCounts()
    try:
        if facts.problem:
            raise FileRefused(facts.problem)
        with conn.cursor() as cur:
            cur.execute(
                """insert into raw.files (file_name, source_uri, sha256, etag, size_bytes, encoding,
                                          status, started_at)
                   values (%s, %s, %s, %s, %s, %s, 'loaded', %s) returning file_id""",
                (file_name, source_uri, facts.sha256, etag, facts.size_bytes, facts.encoding, started_at),
            )
            file_id = cur.fetchone()[0]
            with open_text(path, facts) as text, tempfile.TemporaryFile("w+", encoding="utf-8") as rejects:
                stream = _CsvStream(parse_records(RecordReader(text), file_id, rejects, counts))
                columns = ", ".join(("file_id", "line_number", *RAW_COLUMNS))
                try:
                    cur.copy_expert(f"copy raw.transactions ({columns}) from stdin with (format csv)", stream)
                except psycopg2.errors.QueryCanceled:
                    if stream.error is not None:
                        raise stream.error from None
                    raise
                if counts.rows_rejected:
                    rejects.seek(0)
                    cur.copy_expert(
                        "copy raw.rejected_rows (file_id, line_number, raw_line, reason) "
                        "from stdin with (format csv)",
                        rejects,
                    )
            cur.execute(
                """update raw.files set rows_in_file = %s, rows_loaded = %s, rows_rejected = %s,
                          loaded_at = now() where file_id = %s""",
                (counts.rows_in_file, counts.rows_loaded, counts.rows_rejected, file_id),
            )
        conn.commit()
    except psycopg2.errors.UniqueViolation:
        conn.rollback()
        with conn.cursor() as cur:
            done = _already_loaded(cur, facts.sha256)
        conn.rollback()
        msg = f"loaded concurrently as file {done[0] if done else '?'}; skipped"
        return LoadResult(source_uri, "skipped", done[0] if done else None, message=msg)
    except (FileRefused, UnicodeDecodeError, EOFError, OSError, zlib.error) as exc:
        conn.rollback()
        reason = str(exc) if isinstance(exc, FileRefused) else f"unreadable file: {exc}"
        file_id = _record_failure(
            conn,
            file_name=file_name,
            source_uri=source_uri,
            facts=facts,
            etag=etag,
            started_at=started_at,
            error=reason,
        )
        return LoadResult(source_uri, "failed", file_id, message=reason, seconds=time.perf_counter() - t0)
    except BaseException:
        conn.rollback()
        raise
    return LoadResult(
        source_uri,
        "loaded",
        file_id,
        counts.rows_in_file,
        counts.rows_loaded,
        counts.rows_rejected,
        message="loaded",
        seconds=time.perf_counter() - t0,
    )


SUPPORTED_SUFFIXES = (".csv", ".csv.gz")


def list_local_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into the export files they hold (sorted); files are taken as given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUPPORTED_SUFFIXES))
            )
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found
