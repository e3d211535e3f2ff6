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
import operator
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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
    has_nul: bool
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
        is_utf8, has_non_ascii, has_nul, first_bytes, problem = True, False, False, b"", None
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
            has_nul = has_nul or b"\x00" in data
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
    return FileFacts(digest.hexdigest(), size, is_gzip, encoding, has_nul, problem)


def open_text(path: Path, facts: FileFacts) -> IO[str]:
    raw = gzip.open(path, "rb") if facts.is_gzip else path.open("rb")  # noqa: SIM115 (wrapper owns it)
    return io.TextIOWrapper(raw, encoding=facts.encoding, newline="")


# ------------------------------------------------------------------------------------------ parsing
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
    # (first line, last line, reason) of each rejected record; its raw text is read back afterwards
    rejects: list[tuple[int, int, str]] = field(default_factory=list)


class RecordReader:
    """Reads the header at once (so a bad one refuses the file before any COPY starts), then records."""

    def __init__(self, text: IO[str], *, may_hold_nul: bool = True):
        csv.field_size_limit(MAX_FIELD_CHARS)
        self.reader = csv.reader(text, strict=False)
        self.may_hold_nul = may_hold_nul
        try:
            header = next(self.reader)
        except StopIteration:
            raise FileRefused("empty file: no header line") from None
        except csv.Error as exc:
            raise FileRefused(f"unreadable header: {exc}") from None
        self.positions = header_mapping(header)
        self.width = len(header)


def parse_batches(records: RecordReader, file_id: int, counts: ParseCounts, batch_rows: int = 5_000):
    """Yield lists of (file_id, line_number, 8 raw values) for good records; note the rejects."""
    reader, width = records.reader, records.width
    pick = operator.itemgetter(*records.positions)
    rejects = counts.rejects
    previous_end = reader.line_num
    batch: list[tuple] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rejects.append((previous_end + 1, reader.line_num, f"unparseable CSV: {exc}"))
            previous_end = reader.line_num
            continue
        first_line, previous_end = previous_end + 1, reader.line_num
        if len(row) != width:
            if row:  # an empty line is not a record
                rejects.append((first_line, previous_end, f"expected {width} fields, found {len(row)}"))
            continue
        if records.may_hold_nul and any("\x00" in v for v in row):
            rejects.append((first_line, previous_end, "contains a NUL character"))
            continue
        batch.append((file_id, first_line, *pick(row)))
        if len(batch) >= batch_rows:
            counts.rows_loaded += len(batch)
            yield batch
            batch = []
    counts.rows_loaded += len(batch)
    if batch:
        yield batch
    counts.rows_rejected = len(rejects)
    counts.rows_in_file = counts.rows_loaded + counts.rows_rejected


def reject_rows(text: IO[str], file_id: int, rejects: list[tuple[int, int, str]]) -> Iterator[tuple]:
    """(file_id, line_number, raw text, reason) of the rejected records, read back from the file."""
    wanted = iter(rejects)
    current = next(wanted, None)
    lines: list[str] = []
    for line_no, line in enumerate(text, start=1):
        if current is None:
            return
        first, last, reason = current
        if line_no < first:
            continue
        lines.append(line)
        if line_no == last:
            raw = "".join(lines).rstrip("\r\n").replace("\x00", "\\0")
            if len(raw) > MAX_KEPT_LINE_CHARS:
                raw = raw[:MAX_KEPT_LINE_CHARS] + f"… [{len(raw) - MAX_KEPT_LINE_CHARS} more characters cut]"
            yield (file_id, first, raw, reason)
            lines = []
            current = next(wanted, None)


class _CsvStream(io.RawIOBase):
    """A read()-able stream of CSV text made from an iterator of row batches, for COPY FROM STDIN."""

    def __init__(self, batches: Iterator[list[tuple]]):
        self._batches = batches
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
            batch = next(self._batches, None)
            if batch is None:
                break
            self._writer.writerows(batch)
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
            with open_text(path, facts) as text:
                records = RecordReader(text, may_hold_nul=facts.has_nul)
                stream = _CsvStream(parse_batches(records, file_id, counts))
                columns = ", ".join(("file_id", "line_number", *RAW_COLUMNS))
                try:
                    cur.copy_expert(f"copy raw.transactions ({columns}) from stdin with (format csv)", stream)
                except psycopg2.errors.QueryCanceled:
                    if stream.error is not None:
                        raise stream.error from None
                    raise
            if counts.rejects:
                with open_text(path, facts) as text:
                    rows = reject_rows(text, file_id, counts.rejects)
                    cur.copy_expert(
                        "copy raw.rejected_rows (file_id, line_number, raw_line, reason) "
                        "from stdin with (format csv)",
                        _CsvStream(iter([list(rows)])),
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
