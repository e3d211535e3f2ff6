"""Loader: shop CSV exports → ``raw`` schema, with Postgres COPY, a manifest and kept rejects.

One file is one transaction: either all its parseable rows are in ``raw.transactions`` (and the rows
that could not be parsed in ``raw.rejected_rows``) with a ``loaded`` row in ``raw.files``, or nothing
of it is, and ``raw.files`` records the attempt as ``failed`` with the reason. The attempt itself is
recorded (committed) before the file is read: a process that dies on a file leaves a row saying so,
and later cycles refuse that file in one line instead of dying on it again.

The file is read by its layout (layouts/*.yml: header names, delimiter, encoding); the rules for
casting its text (date format, decimal comma...) are recorded with it in raw.files for dbt staging.
Memory is bounded: decompressed bytes and line length are capped, rejects are spooled to disk.

Always: rows in file = rows loaded + rows rejected. Values stay text here; casting is dbt's job.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import gzip
import hashlib
import io
import logging
import operator
import os
import socket
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from insiders import load_arrow
from insiders.layouts import PARSE_RULE_COLUMNS, STANDARD_COLUMNS, Layout, load_layout
from insiders.schema import ensure_schema

log = logging.getLogger(__name__)

RAW_COLUMNS = tuple(STANDARD_COLUMNS.values())  # raw.transactions' text columns, one shape for all layouts
MAX_FIELD_CHARS = 100_000  # a longer field is not a shop export value: the row is rejected
MAX_KEPT_LINE_CHARS = 10_000  # rejected raw text is kept up to this length
CHUNK = 1 << 20
REJECT_BATCH = 1_000
UNFINISHED = "unfinished load"  # error of an attempt row until its load commits or fails cleanly
DIED = "died"  # error of an attempt whose process died (seen by a later process)
MAX_DEATHS = 2  # a file that killed the loading process this often is refused, not retried again
ATTEMPT_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # this process


class FileRefused(Exception):
    """The whole file is refused (bad header, unreadable gzip...); nothing of it is loaded."""


@dataclass(frozen=True)
class LoadLimits:
    """Caps that keep a hostile or broken file from exhausting memory (INSIDERS_MAX_* settings)."""

    max_decompressed_bytes: int = 10 << 30
    max_line_bytes: int = 1 << 20


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
    rules = load_layout().parse_rules()  # files loaded before layouts existed were read by the default
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in PARSE_RULE_COLUMNS)
    update = sql.SQL("update raw.files set {} where layout_name is null").format(assignments)
    values = [rules[k] for k in PARSE_RULE_COLUMNS]
    ensure_schema(conn, "raw_schema.sql", lambda cur: cur.execute(update, values))


# ----------------------------------------------------------------------------------- file sniffing
@dataclass(frozen=True)
class FileFacts:
    sha256: str
    size_bytes: int
    is_gzip: bool
    encoding: str
    has_nul: bool
    problem: str | None  # why the bytes cannot be read at all (e.g. truncated gzip, over a cap)
    lines: int = 0  # physical lines of the text (\n, \r\n and \r end one), as csv.reader counts them


def _inflate(fh, digest) -> Iterator[bytes]:
    """The decompressed bytes of a gzip stream (members concatenated) in pieces of at most CHUNK,
    however much one compressed chunk inflates; zlib.error on bad data, EOFError when truncated."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = b""
    while True:
        if not pending:
            pending = fh.read(CHUNK)
            if not pending:
                break
            digest(pending)
        out = inflater.decompress(pending, CHUNK)
        pending = inflater.unconsumed_tail
        if out:
            yield out
        if inflater.eof:
            pending = inflater.unused_data
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            if not pending:  # a complete member; more members may follow
                pending = fh.read(CHUNK)
                if not pending:
                    return
                digest(pending)
    raise EOFError("the file is truncated")


def sniff(path: Path, limits: LoadLimits = LoadLimits()) -> FileFacts:
    """One pass over the bytes: hash, size, gzip integrity, caps and text encoding.

    The encoding is UTF-8 when the text has a UTF-8 BOM or is valid UTF-8 with non-ASCII
    characters; otherwise Latin-1, the shop's export encoding (which can decode any byte). The pass
    stops at the first byte over a cap (decompressed size, line length): such a file is refused
    after reading at most the cap, whatever its real size.
    """
    digest = hashlib.sha256()
    size = 0

    def consume(chunk: bytes) -> None:
        nonlocal size
        digest.update(chunk)
        size += len(chunk)

    with path.open("rb") as fh:
        is_gzip = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        pieces = _inflate(fh, consume) if is_gzip else _plain(fh, consume)
        utf8 = codecs.getincrementaldecoder("utf-8")()
        is_utf8, has_non_ascii, has_nul, first_bytes, problem = True, False, False, b"", None
        text_bytes, line_run, line_no = 0, 0, 1
        bare_crs, last_byte = 0, b""  # line breaks that are a \r not followed by \n
        try:
            for data in pieces:
                text_bytes += len(data)
                if text_bytes > limits.max_decompressed_bytes:
                    problem = (
                        f"more than {limits.max_decompressed_bytes:,} bytes of text "
                        "(INSIDERS_MAX_DECOMPRESSED_BYTES): refused"
                    )
                    break
                first_nl = data.find(b"\n")
                if (line_run if first_nl < 0 else line_run + first_nl) > limits.max_line_bytes:
                    problem = (
                        f"line {line_no} is longer than {limits.max_line_bytes:,} bytes "
                        "(INSIDERS_MAX_LINE_BYTES): refused"
                    )
                    break
                if first_nl < 0:
                    line_run += len(data)
                else:
                    line_run = len(data) - data.rfind(b"\n") - 1
                    line_no += data.count(b"\n")
                if b"\r" in data or last_byte == b"\r":
                    bare_crs += data.count(b"\r") - data.count(b"\r\n") - (last_byte + data[:1] == b"\r\n")
                last_byte = data[-1:]
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
        except zlib.error as exc:
            problem = f"unreadable gzip data: {exc}"
        except EOFError as exc:
            problem = f"unreadable gzip data: {exc}"
        for chunk in iter(lambda: fh.read(CHUNK), b""):  # the hash covers every byte received
            consume(chunk)
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
    lines = line_no - 1 + bare_crs + (last_byte not in (b"", b"\n", b"\r"))
    return FileFacts(digest.hexdigest(), size, is_gzip, encoding, has_nul, problem, lines)


def _plain(fh, digest) -> Iterator[bytes]:
    while chunk := fh.read(CHUNK):
        digest(chunk)
        yield chunk


def open_text(path: Path, facts: FileFacts) -> IO[str]:
    raw = gzip.open(path, "rb") if facts.is_gzip else path.open("rb")  # noqa: SIM115 (wrapper owns it)
    return io.TextIOWrapper(raw, encoding=facts.encoding, newline="")


# ------------------------------------------------------------------------------------------ parsing
def _clean_header(value: str) -> str:
    return value.strip().lstrip("\ufeff").strip().strip('"').strip()


def header_mapping(header: list[str], layout: Layout) -> list[int | None]:
    """Position in the file of each raw column (None: an optional column the layout leaves out), or
    FileRefused naming the missing/unexpected columns: every header the layout names must be there."""
    names = [_clean_header(h) for h in header]
    wanted = {h.lower(): std for std, h in layout.columns.items() if std in STANDARD_COLUMNS}
    ignored = {h.lower() for h in layout.ignore_columns}
    found = [n.lower() for n in names]
    missing = [layout.columns[s] for h, s in wanted.items() if h not in found]
    unexpected = [n for n in names if n.lower() not in wanted and n.lower() not in ignored]
    duplicated = sorted({n for n in names if n.lower() in wanted and found.count(n.lower()) > 1})
    if missing or unexpected or duplicated:
        parts = []
        if missing:
            parts.append("missing columns: " + ", ".join(missing))
        if unexpected:
            parts.append("unexpected columns: " + ", ".join(repr(u) for u in unexpected))
        if duplicated:
            parts.append("duplicated columns: " + ", ".join(duplicated))
        expected = ",".join(layout.columns[s] for s in STANDARD_COLUMNS if s in layout.columns)
        raise FileRefused(f"header does not match the layout {layout.name} ({expected}): " + "; ".join(parts))
    by_standard = {std: found.index(h) for h, std in wanted.items() if h in found}
    return [by_standard.get(std) for std in STANDARD_COLUMNS]


class RejectLog:
    """(first line, last line, reason) of each rejected record, spooled to a temp file as they come,
    so a file of millions of bad rows costs disk, not memory."""

    def __init__(self) -> None:
        self.count = 0
        self._file: IO[str] | None = None
        self._writer = None

    def add(self, first: int, last: int, reason: str) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
            self._writer = csv.writer(self._file)
        self._writer.writerow((first, last, reason))
        self.count += 1

    def __iter__(self) -> Iterator[tuple[int, int, str]]:
        if self._file is None:
            return
        self._file.flush()
        self._file.seek(0)
        for first, last, reason in csv.reader(self._file):
            yield int(first), int(last), reason

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


@dataclass
class ParseCounts:
    rows_in_file: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rejects: RejectLog = dataclasses.field(default_factory=RejectLog)


class RecordReader:
    """Reads the header at once (so a bad one refuses the file before any COPY starts), then records."""

    def __init__(self, text: IO[str], layout: Layout, *, may_hold_nul: bool = True):
        csv.field_size_limit(MAX_FIELD_CHARS)
        self.reader = csv.reader(text, strict=False, delimiter=layout.delimiter, quotechar=layout.quotechar)
        self.may_hold_nul = may_hold_nul
        try:
            header = next(self.reader)
        except StopIteration:
            raise FileRefused("empty file: no header line") from None
        except csv.Error as exc:
            raise FileRefused(f"unreadable header: {exc}") from None
        self.positions = header_mapping(header, layout)
        self.width = len(header)

    def picker(self):
        positions = self.positions
        if None not in positions:
            return operator.itemgetter(*positions)
        return lambda row: tuple(None if p is None else row[p] for p in positions)


def parse_batches(records: RecordReader, file_id: int, counts: ParseCounts, batch_rows: int = 5_000):
    """Yield lists of (file_id, line_number, 8 raw values) for good records; note the rejects."""
    reader, width = records.reader, records.width
    pick = records.picker()
    rejects = counts.rejects
    previous_end = reader.line_num
    batch: list[tuple] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rejects.add(previous_end + 1, reader.line_num, f"unparseable CSV: {exc}")
            previous_end = reader.line_num
            continue
        first_line, previous_end = previous_end + 1, reader.line_num
        if len(row) != width:
            if row:  # an empty line is not a record
                rejects.add(first_line, previous_end, f"expected {width} fields, found {len(row)}")
            continue
        if records.may_hold_nul and any("\x00" in v for v in row):
            rejects.add(first_line, previous_end, "contains a NUL character")
            continue
        batch.append((file_id, first_line, *pick(row)))
        if len(batch) >= batch_rows:
            counts.rows_loaded += len(batch)
            yield batch
            batch = []
    counts.rows_loaded += len(batch)
    if batch:
        yield batch
    counts.rows_rejected = rejects.count
    counts.rows_in_file = counts.rows_loaded + counts.rows_rejected


def reject_rows(text: IO[str], file_id: int, rejects: Iterable[tuple[int, int, str]]) -> Iterator[tuple]:
    """(file_id, line_number, raw text, reason) of the rejected records, read back from the file.
    At most MAX_KEPT_LINE_CHARS of a record's text are held, however long the record is."""
    wanted = iter(rejects)
    current = next(wanted, None)
    kept: list[str] = []
    kept_chars = cut_chars = 0
    for line_no, line in enumerate(text, start=1):
        if current is None:
            return
        first, last, reason = current
        if line_no < first:
            continue
        room = MAX_KEPT_LINE_CHARS - kept_chars
        if room > 0:
            kept.append(line[:room])
            kept_chars += min(len(line), room)
        cut_chars += max(0, len(line) - max(room, 0))
        if line_no == last:
            raw = "".join(kept)
            if cut_chars:
                raw += f"… [{cut_chars} more characters cut]"
            else:
                raw = raw.rstrip("\r\n")
            yield (file_id, first, raw.replace("\x00", "\\0"), reason)
            kept, kept_chars, cut_chars = [], 0, 0
            current = next(wanted, None)


def batched(rows: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


class _CsvStream(io.RawIOBase):
    """A read()-able stream of CSV text made from an iterator of row batches, for COPY FROM STDIN."""

    def __init__(self, batches: Iterator[list[tuple]]):
        self._batches = batches
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, lineterminator="\n")
        self._pending = bytearray()
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
        out = bytes(self._pending[:want])
        del self._pending[:want]  # bytearray drops its head in place: no quadratic re-slicing
        return out


# ------------------------------------------------------------------------------------------ loading
def _already_loaded(cur, sha256: str):
    cur.execute(
        "select file_id, file_name, loaded_at from raw.files where sha256 = %s and status = 'loaded'",
        (sha256,),
    )
    return cur.fetchone()


def _check_earlier_deaths(conn, sha256: str) -> str | None:
    """Look at the attempts at this content that never finished. This process's own ones (a lost
    connection, retried) are marked interrupted; another process's ones mean that process died on
    the file (killed, out of memory...): marked died, and once MAX_DEATHS attempts died the file is
    refused (the reason is returned) so that it cannot make every later cycle die too."""
    with conn.cursor() as cur:
        cur.execute(
            """select file_id, attempted_by, started_at, error like %s from raw.files
               where sha256 = %s and status = 'failed' and (error like %s or error like %s)
               order by file_id""",
            (UNFINISHED + "%", sha256, UNFINISHED + "%", DIED + ":%"),
        )
        attempts = cur.fetchall()
        for file_id, by, _, unfinished in attempts:
            if not unfinished:
                continue
            if by == ATTEMPT_ID:
                error = "interrupted (connection lost); retried by the same process"
            else:
                error = f"{DIED}: the loading process ({by}) stopped before the load finished"
            cur.execute("update raw.files set error = %s where file_id = %s", (error, file_id))
    conn.commit()
    deaths = [a for a in attempts if a[1] != ATTEMPT_ID]
    if len(deaths) < MAX_DEATHS:
        if deaths:
            log.warning("an earlier load of this file (file %s) died; retrying once", deaths[-1][0])
        return None
    ids = ", ".join(str(a[0]) for a in deaths)
    return (
        f"{len(deaths)} earlier loads of this file died before finishing (files {ids}, last started "
        f"{deaths[-1][2]:%Y-%m-%d %H:%M}); not retried: delete those raw.files rows to try again"
    )


def _insert_file_row(conn, *, file_name, source_uri, facts, etag, started_at, error, layout) -> int:
    rules = layout.parse_rules()
    columns = ["file_name", "source_uri", "sha256", "etag", "size_bytes", "encoding", "status", "error",
               "started_at", "attempted_by", *PARSE_RULE_COLUMNS]  # fmt: skip
    values = [file_name, source_uri, facts.sha256, etag, facts.size_bytes, facts.encoding, "failed", error,
              started_at, ATTEMPT_ID, *(rules[k] for k in PARSE_RULE_COLUMNS)]  # fmt: skip
    query = sql.SQL("insert into raw.files ({}) values ({}) returning file_id").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL(", ").join(sql.Placeholder() * len(columns))
    )
    with conn.cursor() as cur:
        cur.execute(query, values)
        file_id = cur.fetchone()[0]
    conn.commit()
    return file_id


def _set_error(conn, file_id: int, error: str) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "update raw.files set error = %s, loaded_at = now() where file_id = %s", (error[:4000], file_id)
        )
    conn.commit()


COPY_COLUMNS = ", ".join(("file_id", "line_number", *RAW_COLUMNS))
COPY_TRANSACTIONS = f"copy raw.transactions ({COPY_COLUMNS}) from stdin with (format csv)"


def _copy(cur, statement: str, stream) -> None:
    """COPY from a stream made by a generator, raising what broke the generator (not QueryCanceled)."""
    try:
        cur.copy_expert(statement, stream, size=CHUNK)
    except psycopg2.errors.QueryCanceled:
        if stream.error is not None:
            raise stream.error from None
        raise


def _copy_fast(cur, path: Path, name: str, facts: FileFacts, layout: Layout, file_id: int, counts) -> bool:
    """COPY the file by the fast path (load_arrow) when it fits, inside a savepoint: True when done;
    False (nothing of it left in the transaction) when the exact Python path must read the file."""
    with open_text(path, facts) as text:
        records = RecordReader(text, layout, may_hold_nul=facts.has_nul)  # a bad header: FileRefused
        header_lines = records.reader.line_num
    reason = load_arrow.python_path_reason(facts.has_nul, facts.encoding, layout, header_lines)
    if reason:
        log.info("%s: %s, so the exact Python path reads it", name, reason)
        return False
    loaded = [0]
    blocks = load_arrow.prefetched(
        load_arrow.copy_text(
            path, is_gzip=facts.is_gzip, encoding=facts.encoding, lines=facts.lines, layout=layout,
            positions=records.positions, width=records.width, file_id=file_id,
            max_field_chars=MAX_FIELD_CHARS, loaded=loaded,
        )
    )  # fmt: skip
    cur.execute("savepoint fast_path")
    try:
        _copy(cur, COPY_TRANSACTIONS, load_arrow.BytesStream(blocks))
    except load_arrow.MISMATCH as exc:
        cur.execute("rollback to savepoint fast_path")
        log.info("%s: the fast path does not fit (%s), so the exact Python path reads it", name, exc)
        return False
    finally:
        blocks.close()  # stops the thread that makes the blocks, whatever happened
    cur.execute("release savepoint fast_path")
    counts.rows_loaded = counts.rows_in_file = loaded[0]
    log.info("%s: read by the fast path", name)
    return True


def file_facts(path: Path, layout: Layout, limits: LoadLimits | None) -> FileFacts:
    """sniff(path), with the layout's encoding when it names one (every target's loader starts here)."""
    facts = sniff(path, limits or LoadLimits())
    if layout.encoding != "auto":
        facts = dataclasses.replace(facts, encoding=layout.encoding)
    return facts


def file_sha256(path: Path) -> str:
    """The sha256 of the file's bytes as received (what sniff's FileFacts.sha256 holds)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def skipped_result(source_uri: str, done: tuple, t0: float) -> LoadResult:
    """The result of a file already loaded (``done``: its file id, name and loaded_at)."""
    msg = f"already loaded as file {done[0]} ({done[1]}) on {done[2]:%Y-%m-%d %H:%M}; skipped"
    return LoadResult(source_uri, "skipped", done[0], message=msg, seconds=time.perf_counter() - t0)


def load_file(
    conn,
    path: Path,
    *,
    source_uri: str | None = None,
    file_name: str | None = None,
    etag: str | None = None,
    layout: Layout | None = None,
    limits: LoadLimits | None = None,
    fast_path: bool = True,
) -> LoadResult:
    """Load one local file (already downloaded when it came from S3) in one transaction.
    ``fast_path=False`` reads it the exact Python way even where the fast path fits (tests compare)."""
    t0 = time.perf_counter()
    started_at = datetime.now(UTC)
    layout = layout or load_layout()
    source_uri = source_uri or str(path.resolve())
    file_name = file_name or path.name
    with conn.cursor() as cur:  # by the hash of the bytes alone: a daily cycle passes its history
        done = _already_loaded(cur, file_sha256(path))  # without decompressing it
    conn.rollback()
    if done:
        return skipped_result(source_uri, done, t0)
    facts = file_facts(path, layout, limits)
    row = dict(file_name=file_name, source_uri=source_uri, facts=facts, etag=etag, started_at=started_at,
               layout=layout)  # fmt: skip
    refusal = _check_earlier_deaths(conn, facts.sha256)
    if refusal:
        new_id = _insert_file_row(conn, **row, error=refusal)
        return LoadResult(source_uri, "failed", new_id, message=refusal, seconds=time.perf_counter() - t0)
    file_id = _insert_file_row(conn, **row, error=f"{UNFINISHED}: started by {ATTEMPT_ID}")
    counts = ParseCounts()
    try:
        if facts.problem:
            raise FileRefused(facts.problem)
        with conn.cursor() as cur:
            if not (fast_path and _copy_fast(cur, path, file_name, facts, layout, file_id, counts)):
                with open_text(path, facts) as text:
                    records = RecordReader(text, layout, may_hold_nul=facts.has_nul)
                    _copy(cur, COPY_TRANSACTIONS, _CsvStream(parse_batches(records, file_id, counts)))
                log.info("%s: read by the exact Python path", file_name)
            if counts.rows_rejected:
                with open_text(path, facts) as text:
                    rows = reject_rows(text, file_id, counts.rejects)
                    cur.copy_expert(
                        "copy raw.rejected_rows (file_id, line_number, raw_line, reason) "
                        "from stdin with (format csv)",
                        _CsvStream(batched(rows, REJECT_BATCH)),
                    )
            cur.execute(
                """update raw.files set status = 'loaded', error = null, rows_in_file = %s, rows_loaded = %s,
                          rows_rejected = %s, loaded_at = now() where file_id = %s""",
                (counts.rows_in_file, counts.rows_loaded, counts.rows_rejected, file_id),
            )
        conn.commit()
    except psycopg2.errors.UniqueViolation:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("delete from raw.files where file_id = %s", (file_id,))
            done = _already_loaded(cur, facts.sha256)
        conn.commit()
        msg = f"loaded concurrently as file {done[0] if done else '?'}; skipped"
        return LoadResult(source_uri, "skipped", done[0] if done else None, message=msg)
    except (FileRefused, UnicodeDecodeError, EOFError, OSError, zlib.error) as exc:
        conn.rollback()
        reason = str(exc) if isinstance(exc, FileRefused) else f"unreadable file: {exc}"
        _set_error(conn, file_id, reason)
        return LoadResult(source_uri, "failed", file_id, message=reason, seconds=time.perf_counter() - t0)
    except BaseException as exc:
        conn.rollback()
        try:  # not a death of the process: a later cycle may retry the file
            _set_error(conn, file_id, f"interrupted: {type(exc).__name__}: {exc}")
        except Exception:  # the connection itself may be what broke
            log.debug("could not record the interrupted load of %s", source_uri, exc_info=True)
        raise
    finally:
        counts.rejects.close()
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
