"""N times the shop's data, made from the shared file: bigger shops and longer histories for the benchmark.

    python scripts/generate_data.py --scale 10 --out bench-data/x10.csv.gz
    python scripts/generate_data.py --scale 5 --years --out bench-data/x5_years.csv.gz
    python scripts/generate_data.py --scale 10 --daily --out bench-data/x10_daily.csv.gz

Copies (the default): copy k (0 … N-1) of every line, with new ids and the same calendar. The ids of
copy k are the original number with k written in front of it, i.e. invoice k·10⁶ + number and customer
k·10⁵ + id (the shared file's invoice numbers have 6 digits and its customer ids 5), so copy 0 is the
original and no two copies share an id. The ``C`` (cancellation) and ``A`` (bad-debt adjustment)
prefixes stay in front of the invoice number; guests (empty CustomerID) stay guests.

``--years``: a longer history instead of a bigger shop: copy k is shifted k whole years back (the
latest copy is the original year, so the reference date does not move), with new invoice ids and,
unless ``--new-customers``, the same customers (who then have N years of history).

``--daily``: also split off the last calendar day of the data into ``<out stem>.day.csv.gz`` (the
file a daily cycle receives on top of the history in ``--out``); together they hold every line.

The output is deterministic (same arguments, same bytes: gzip without a timestamp), written as a
stream (memory: about the uncompressed source, whatever N) to a temporary file renamed at the
end, so an interrupted run never leaves a half file behind. The shared file's text is kept byte for
byte apart from the ids and years: copy 0 without ``--years`` is the source itself.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail_2010_2011.csv.gz"
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
INVOICE_DIGITS, CUSTOMER_DIGITS = 6, 5

# Placeholders written into the template of each line; none of them occurs in the source (checked).
INVOICE_MARK, CUSTOMER_MARK = "\x1d", "\x1c"
YEAR_MARK = "\x1e"  # before the four digits of each year
CHUNK_LINES = 20_000

_INVOICE = re.compile(rf"([CA]?)(\d{{{INVOICE_DIGITS}}})")
_CUSTOMER = re.compile(rf"(\d{{{CUSTOMER_DIGITS}}})?")
_DATE = re.compile(r"(\d{1,2}/\d{1,2}/)(\d{4})( \d{1,2}:\d{2})")


class SourceError(ValueError):
    """The source is not in the shared file's layout (the generator relies on its id widths)."""


@dataclass
class Template:
    """The source as chunks of line templates (ids and years replaced by placeholders)."""

    years: frozenset[int]  # the calendar years in the source
    history: list[str]  # chunks of lines before the last day (or all lines without ``daily``)
    last_day: list[str]  # chunks of the last day's lines (empty without ``daily``)
    lines: int


def read_template(source: Path, *, daily: bool = False) -> Template:
    """One pass over the source (two with ``daily``: the first finds the last day), line by line."""
    last_day = max((line.date for line in _source_lines(source)), default=None) if daily else None
    lines, years = 0, set()
    history, day = _ChunkBuffer(), _ChunkBuffer()
    for line in _source_lines(source):
        years.add(line.date[0])
        (day if line.date == last_day else history).add(
            f"{line.before_year}{YEAR_MARK}{line.date[0]}{line.after_year}\n"
        )
        lines += 1
    if not lines:
        raise SourceError(f"{source}: no data lines")
    return Template(frozenset(years), history.done(), day.done(), lines)


def _source_lines(source: Path) -> Iterator[_Line]:
    with gzip.open(source, "rt", encoding="utf-8", newline="") as fh:
        header = fh.readline().rstrip("\r\n")
        if header != HEADER:
            raise SourceError(f"{source}: header {header!r} is not {HEADER!r}")
        for number, line in enumerate(fh, start=2):
            line = line.rstrip("\r\n")
            if line:
                yield _split(line, number)


class _ChunkBuffer:
    """Template lines gathered into strings of CHUNK_LINES lines (few objects, little overhead)."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self._lines: list[str] = []

    def add(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) == CHUNK_LINES:
            self.chunks.append("".join(self._lines))
            self._lines = []

    def done(self) -> list[str]:
        if self._lines:
            self.chunks.append("".join(self._lines))
            self._lines = []
        return self.chunks


@dataclass(slots=True)
class _Line:
    before_year: str  # with INVOICE_MARK before the invoice number
    date: tuple[int, int, int]  # (year, month, day)
    after_year: str  # with CUSTOMER_MARK before a customer id


def _split(line: str, number: int) -> _Line:
    """One source line as a template. The first field is the invoice, the last four are date, price,
    customer and country (none holds a comma in this layout; the description before them may, quoted)."""
    if any(mark in line for mark in (INVOICE_MARK, CUSTOMER_MARK, YEAR_MARK)):
        raise SourceError(f"line {number}: holds a control character the generator uses")
    invoice, rest = line.split(",", 1)
    middle, date, price, customer, country = rest.rsplit(",", 4)
    m_inv, m_cust, m_date = _INVOICE.fullmatch(invoice), _CUSTOMER.fullmatch(customer), _DATE.fullmatch(date)
    if not (m_inv and m_cust and m_date):
        raise SourceError(f"line {number}: invoice, date or customer id not in the shared file's format")
    prefix, digits = m_inv.groups()
    month_day, year, clock = m_date.groups()
    month, day = (int(x) for x in month_day.rstrip("/").split("/"))
    return _Line(
        before_year=f"{prefix}{INVOICE_MARK}{digits},{middle},{month_day}",
        date=(int(year), month, day),
        after_year=f"{clock},{price},{CUSTOMER_MARK + customer if customer else ''},{country}",
    )


def copy_text(chunk: str, copy: int, *, calendar: frozenset[int], years: bool, new_customers: bool) -> str:
    """One chunk of the template written out as copy ``copy`` (C-speed ``str.replace``, no per-line loop)."""
    tag = str(copy) if copy else ""
    text = chunk.replace(INVOICE_MARK, tag).replace(CUSTOMER_MARK, tag if new_customers else "")
    shift = copy if years else 0
    for year in calendar:
        text = text.replace(f"{YEAR_MARK}{year}", str(year - shift))
    return text


def copies_order(scale: int, years: bool) -> range:
    """Chronological for a longer history (the oldest copy first), else copy 0 first."""
    return range(scale - 1, -1, -1) if years else range(scale)


def write_copies(
    chunks_of: Callable[[int], list[str]], out: Path, scale: int, *, calendar: frozenset[int], years: bool,
    new_customers: bool, compresslevel: int,
) -> int:  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    lines = 0
    try:
        with open(tmp, "wb") as raw, gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=compresslevel, mtime=0
        ) as gz:  # fmt: skip
            gz.write(f"{HEADER}\n".encode())
            for copy in copies_order(scale, years):
                for chunk in chunks_of(copy):
                    text = copy_text(chunk, copy, calendar=calendar, years=years, new_customers=new_customers)
                    lines += text.count("\n")
                    gz.write(text.encode())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return lines


def day_path(out: Path) -> Path:
    name = out.name.removesuffix(".gz").removesuffix(".csv")
    return out.with_name(f"{name}.day.csv.gz")


def generate(
    source: Path, out: Path, scale: int, *, years: bool = False, new_customers: bool | None = None,
    daily: bool = False, compresslevel: int = 1,
) -> dict[Path, int]:  # fmt: skip
    """Writes the file(s); returns the data lines (header excluded) written to each."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    new_customers = (not years) if new_customers is None else new_customers
    template = read_template(source, daily=daily)
    kwargs = dict(calendar=template.years, years=years, new_customers=new_customers)
    if years:  # only the latest copy's last day is the last day of the output
        history_of = lambda copy: template.history + (template.last_day if copy else [])  # noqa: E731
        day_of = lambda copy: [] if copy else template.last_day  # noqa: E731
    else:
        history_of, day_of = (lambda copy: template.history), (lambda copy: template.last_day)
    written = {out: write_copies(history_of, out, scale, compresslevel=compresslevel, **kwargs)}
    if daily:
        day_out = day_path(out)
        written[day_out] = write_copies(day_of, day_out, scale, compresslevel=compresslevel, **kwargs)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, required=True, help="number of copies (1 = the source)")
    parser.add_argument("--out", type=Path, required=True, help="output .csv.gz")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--years", action="store_true", help="shift copy k by k years back (longer history)")
    parser.add_argument("--new-customers", action="store_true", help="with --years: new customer ids")
    parser.add_argument("--daily", action="store_true", help="split the last day into <stem>.day.csv.gz")
    parser.add_argument("--compresslevel", type=int, default=1, choices=range(1, 10), metavar="1-9")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        written = generate(
            args.source, args.out, args.scale, years=args.years,
            new_customers=True if args.new_customers else None, daily=args.daily,
            compresslevel=args.compresslevel,
        )  # fmt: skip
    except (SourceError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path, lines in written.items():
        print(f"{path}: {lines:,} lines ({path.stat().st_size / 2**20:,.0f} MB gzip)")
    print(f"generated in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
