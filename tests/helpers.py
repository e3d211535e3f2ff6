"""Small builders shared by tests: cut samples of the shared file, write export files."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def cut_sample(source: Path, target: Path, n_rows: int, *, skip: int = 0, every: int = 1) -> Path:
    """Write the header and ``n_rows`` data lines of the shared file to target: after ``skip`` lines,
    one line in ``every`` (every > 1 spreads the sample over the whole year)."""
    with gzip.open(source, "rt", encoding="latin-1", newline="") as src:
        header = src.readline()
        lines = list(itertools.islice(src, skip, skip + n_rows * every, every))
    opener = gzip.open if target.name.endswith(".gz") else open
    with opener(target, "wt", encoding="latin-1", newline="") as out:
        out.write(header)
        out.writelines(lines)
    return target


def write_export(path: Path, lines: list[str], *, encoding: str = "latin-1", newline: str = "\n") -> Path:
    data = newline.join(lines) + newline
    raw = data.encode(encoding)
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return path
