"""Where files come from: local paths/folders (and S3 prefixes), each handed to the loader."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.engine import URL

from insiders.db import raw_connection
from insiders.errors import UserError
from insiders.load import LoadResult, ensure_raw_schema, list_local_files, load_file
from insiders.settings import Settings

log = logging.getLogger(__name__)


def load_sources(url: URL, sources: list[str], settings: Settings) -> list[LoadResult]:
    """Load every file of every source; a failed file does not stop the others."""
    results: list[LoadResult] = []
    with raw_connection(url) as conn:
        ensure_raw_schema(conn)
        for source in sources:
            if source.startswith("s3://"):
                from insiders.s3 import load_s3_prefix

                results.extend(load_s3_prefix(conn, source, settings))
                continue
            try:
                files = list_local_files([Path(source)])
            except FileNotFoundError as exc:
                raise UserError(str(exc)) from None
            if not files:
                log.warning("%s: no .csv or .csv.gz files found", source)
            for path in files:
                result = load_file(conn, path)
                _log_result(result)
                results.append(result)
    return results


def _log_result(r: LoadResult) -> None:
    if r.status == "loaded":
        log.info(
            "loaded %s: %d rows in file = %d loaded + %d rejected (%.1fs)",
            r.source_uri, r.rows_in_file, r.rows_loaded, r.rows_rejected, r.seconds,
            extra={"file": r.source_uri, "rows_in_file": r.rows_in_file, "rows_loaded": r.rows_loaded,
                   "rows_rejected": r.rows_rejected},
        )  # fmt: skip
    elif r.status == "skipped":
        log.info("skipped %s: %s", r.source_uri, r.message)
    else:
        log.error("failed %s: %s", r.source_uri, r.message)
