"""The visual report of a segmentation run: one self-contained HTML file (``insiders report``, and the
last step of every cycle).

Modules: data (the queries, one DataFrame each), stats (feature profile and 2-D projection), charts
(matplotlib on the Agg canvas → PNG), markup (stylesheet, escaped tables, cards), sections (one
function per section), page (the whole HTML). ``write_report`` ties them together.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from pathlib import Path

from insiders.report.data import ReportData, load_report_data
from insiders.report.page import render
from insiders.report.sections import SECTIONS
from insiders.report.stats import SAMPLE_SIZE

log = logging.getLogger(__name__)

__all__ = ["SECTIONS", "ReportData", "load_report_data", "render", "report_filename", "write_report"]


def report_filename(run_id: str) -> str:
    """``insiders-report-<run id>.html`` (characters unsafe in a file name become ``_``)."""
    return f"insiders-report-{re.sub(r'[^A-Za-z0-9._-]', '_', run_id)}.html"


def write_report(
    conn,
    out_dir: Path,
    *,
    schema: str = "marts",
    ml_schema: str = "ml",
    sample_size: int = SAMPLE_SIZE,
    seed: int = 0,
) -> Path:
    """Write the report of the current segmentation run into ``out_dir`` and return its path.

    Reads only (``schema`` marts, plus the candidates of ``ml_schema``); raises UserError when there
    is no segmentation yet. The file is written atomically: a reader never sees half a report.
    """
    t0 = time.perf_counter()
    data = load_report_data(conn, schema=schema, ml_schema=ml_schema)
    page = render(data, sample_size=sample_size, seed=seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / report_filename(data.run_id)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".report-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info(
        "report: wrote %s (%.0f kB) in %.1fs",
        path, path.stat().st_size / 1024, time.perf_counter() - t0,
        extra={"step": "report", "path": str(path), "run_id": data.run_id},
    )  # fmt: skip
    return path
