"""The loader's fast path: pyarrow's C CSV reader and writer make the COPY input, instead of Python's
csv module row by row, and load exactly the rows the exact Python path (load.parse_batches) loads.

Which file takes which path:

- the exact Python path, decided before the COPY (``python_path_reason``): the text holds a NUL byte
  (those records are rejected); the header record is not line 1 alone; the delimiter or the quote
  is not ASCII; the encoding is not one of ASCII_COMPATIBLE (line breaks must be the bytes \\n, \\r).
- the exact Python path after a try (``FastPathMismatch``: load.py rolls the fast COPY back to a
  savepoint and reads the file again the exact way): pyarrow refuses a record (a wrong number of
  fields; text invalid in the encoding...); a value of MAX_FIELD_CHARS bytes or more; or the
  records do not each take exactly one physical line (a quoted line break, a quote never closed, an
  empty line: pyarrow would make a row of NULLs of it unless told to skip it), seen as records +
  header != the file's lines counted by sniff.
- the fast path otherwise: every record is one line with the header's number of fields, so its line
  number is its index + 2, nothing is rejected, and pyarrow splits fields as Python's csv.reader
  (strict=False) does (tests/insiders/test_load_arrow.py compares the two on crafted and random text).

An empty field (quoted or not) becomes NULL, as the Python path's CSV does; other values are text,
byte for byte. Memory is bounded by the block size: a few blocks of the file are in flight at a time.
"""

from __future__ import annotations

import codecs
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Full, Queue

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from insiders.layouts import Layout

BLOCK_BYTES = 1 << 20  # text pyarrow parses at a time (one batch); it reads a few dozen ahead
ASCII_COMPATIBLE = {"utf-8", "utf-8-sig", "iso8859-1", "cp1252", "iso8859-15", "ascii"}


class FastPathMismatch(Exception):
    """The file is not one the fast path reads exactly: the exact Python path reads it instead."""


# what pyarrow or a codec raises on text the fast path cannot read as the Python path does
MISMATCH = (FastPathMismatch, pa.ArrowException, UnicodeError)


def python_path_reason(has_nul: bool, encoding: str, layout: Layout, header_lines: int) -> str | None:
    """Why the file must take the exact Python path, known before reading it (None: try the fast one)."""
    if has_nul:
        return "the text holds a NUL byte"
    if header_lines != 1:
        return "the header record spans several lines"
    if not (layout.delimiter.isascii() and layout.quotechar.isascii()):
        return "the delimiter or quote is not ASCII"
    if codecs.lookup(encoding).name not in ASCII_COMPATIBLE:
        return f"the encoding {encoding} is not one whose line breaks are the bytes \\n and \\r"
    return None


def copy_text(
    path: Path,
    *,
    is_gzip: bool,
    encoding: str,
    lines: int,
    layout: Layout,
    positions: list[int | None],
    width: int,
    file_id: int,
    max_field_chars: int,
    loaded: list[int],
) -> Iterator[bytes]:
    """CSV text for ``COPY raw.transactions (file_id, line_number, raw columns...)``, one block of the
    file at a time. ``positions`` maps each raw column to its field in the file (None: left out),
    ``lines`` is the file's physical line count; ``loaded`` gets the number of records so far.
    Raises FastPathMismatch (or a pyarrow error) where the exact path would read something else."""
    names = [f"f{i}" for i in range(width)]
    codec = codecs.lookup(encoding).name
    reader = pacsv.open_csv(
        pa.input_stream(str(path), compression="gzip" if is_gzip else None),
        read_options=pacsv.ReadOptions(
            skip_rows=1,
            column_names=names,
            block_size=BLOCK_BYTES,
            encoding="utf8" if codec == "utf-8" else codec,  # utf8: no transcoding, only validation
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=layout.delimiter,
            quote_char=layout.quotechar,
            double_quote=True,
            escape_char=False,
            newlines_in_values=True,  # parsed as Python does; the line count then sends it back
            ignore_empty_lines=True,  # not a record (as in Python), but a line: the count sends it back
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    out_names = ["file_id", "line_number", *(f"c{i}" for i in range(len(positions)))]
    done = 0
    for batch in reader:
        n = batch.num_rows
        if not n:
            continue
        columns = [batch.column(p) if p is not None else pa.nulls(n, pa.string()) for p in positions]
        for column in batch.columns:  # every field, the ignored ones too: the exact path reads them
            longest = _longest(column)
            if longest >= max_field_chars:
                raise FastPathMismatch(f"a field of {longest:,} bytes or more")
        ids = _int64s(np.full(n, file_id, dtype=np.int64))
        line_numbers = _int64s(np.arange(done + 2, done + 2 + n, dtype=np.int64))
        sink = pa.BufferOutputStream()
        pacsv.write_csv(pa.RecordBatch.from_arrays([ids, line_numbers, *columns], out_names), sink, options)
        done += n
        loaded[0] = done
        yield sink.getvalue().to_pybytes()
    if done + 1 != lines:
        raise FastPathMismatch(f"{done:,} records + the header on {lines:,} lines")


def _int64s(values: np.ndarray) -> pa.Array:
    """An int64 array over the numpy buffer (pa.array would import pandas on its first call: ~1 s)."""
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _longest(column: pa.StringArray) -> int:
    """Bytes of the longest value, from the offsets (not pyarrow.compute: its first call costs ~1 s)."""
    if not len(column):
        return 0
    start = column.offset
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[start : start + len(column) + 1]
    return int(np.diff(offsets).max())


def prefetched(blocks: Iterator[bytes], depth: int = 2) -> Iterator[bytes]:
    """The blocks of ``blocks``, made by a thread of their own up to ``depth`` blocks ahead: pyarrow
    decompresses, parses and writes without the GIL, so the next blocks are made on the other core
    while this thread sends the current one to Postgres (as ``gzip -dc | psql`` runs two processes).
    What the thread raises is raised here; when the reader stops early the thread stops too."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for block in blocks:
                if not put((block, None)):
                    return
            put((None, None))
        except BaseException as exc:  # handed to the reader, raised there
            put((None, exc))

    worker = threading.Thread(target=produce, name="load-arrow", daemon=True)
    worker.start()
    try:
        while True:
            block, error = queue.get()
            if error is not None:
                raise error
            if block is None:
                return
            yield block
    finally:
        stop.set()
        worker.join()


class BytesStream(io.RawIOBase):
    """A read()-able stream of the byte blocks of an iterator, for COPY FROM STDIN."""

    def __init__(self, blocks: Iterator[bytes]):
        self._blocks = blocks
        self._pending = bytearray()
        self.error: BaseException | None = None  # what broke the iterator, if anything

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            if size is None or size < 0 or len(self._pending) < size:
                for block in self._blocks:
                    self._pending += block
                    if size is not None and 0 <= size <= len(self._pending):
                        break
            if size is None or size < 0:
                size = len(self._pending)
            out = bytes(self._pending[:size])
            del self._pending[:size]
            return out
        except BaseException as exc:  # psycopg2 would wrap it into QueryCanceled: keep the original
            self.error = exc
            raise
