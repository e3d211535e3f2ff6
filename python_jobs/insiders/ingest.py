"""Where lines come from: local paths/folders and S3 prefixes, each file handed to the loader by the
layout's rules; or, when the layout names a relation, order lines already in the warehouse."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from psycopg2 import sql
from sqlalchemy.engine import URL

from insiders.db import raw_connection
from insiders.errors import UserError
from insiders.layouts import PARSE_RULE_COLUMNS, Layout, load_layout
from insiders.load import LoadLimits, LoadResult, ensure_raw_schema, list_local_files, load_file
from insiders.settings import Settings

log = logging.getLogger(__name__)

TEXT_TYPES = {"text", "character varying", "character", "varchar", "char", "string"}
TYPED_KINDS = {  # standard column → the column types taken as they are (anything else: text, parsed)
    "quantity": {"smallint", "integer", "bigint", "numeric"},
    "unit_price": {"smallint", "integer", "bigint", "numeric", "double precision", "real", "money"},
    "invoiced_at": {"timestamp without time zone", "timestamp with time zone", "date"},
}


def load_limits(settings: Settings) -> LoadLimits:
    return LoadLimits(settings.max_decompressed_bytes, settings.max_line_bytes)


def load_sources(url: URL, sources: list[str], settings: Settings) -> list[LoadResult]:
    """Load every file of every source; a failed file does not stop the others. A layout that
    names a warehouse relation loads nothing (see shop_source_vars)."""
    layout = load_layout(settings.layout)
    if layout.is_relation:
        log.info("layout %s reads %s.%s in the warehouse: no file to load",
                 layout.name, layout.source.schema_name, layout.source.table)  # fmt: skip
        return []
    limits = load_limits(settings)
    results: list[LoadResult] = []
    with raw_connection(url) as conn:
        ensure_raw_schema(conn)
        for source in sources:
            if source.startswith("s3://"):
                from insiders.s3 import load_s3_prefix

                results.extend(load_s3_prefix(conn, source, settings, layout=layout))
                continue
            results.extend(
                load_local_source(source, lambda path: load_file(conn, path, layout=layout, limits=limits))
            )
        if any(r.status == "loaded" for r in results):  # fresh statistics: staging joins by file
            with conn.cursor() as cur:
                cur.execute("analyze raw.files, raw.transactions")
            conn.commit()
    return results


def load_local_source(source: str, load_one: Callable[[Path], LoadResult]) -> list[LoadResult]:
    """Every .csv/.csv.gz file of a local file or folder through ``load_one`` (the target's loader),
    each result logged; a failed file does not stop the others."""
    try:
        files = list_local_files([Path(source)])
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    if not files:
        log.warning("%s: no .csv or .csv.gz files found", source)
    results = []
    for path in files:
        result = load_one(path)
        _log_result(result)
        results.append(result)
    return results


def shop_source_vars(url: URL, settings: Settings) -> dict[str, object]:
    """The dbt vars that point the shop source at a warehouse relation ({} for files): the one place
    where that is configured (models/staging read var('shop_relation'))."""
    layout = load_layout(settings.layout)
    if not layout.is_relation:
        return {}
    with raw_connection(url) as conn:
        ensure_raw_schema(conn)
        return {"shop_relation": register_relation(conn, layout)}


def register_relation(conn, layout: Layout) -> dict[str, object]:
    """Check the relation and its columns, record it in raw.files (once per layout: no rows are
    copied) and return the `shop_relation` var: schema, table, file_id, columns, typed."""
    schema, table = layout.source.schema_name, layout.source.table
    with conn.cursor() as cur:
        cur.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            (schema, table),
        )
        types = dict(cur.fetchall())
    conn.rollback()
    where = f"layout {layout.name}: relation {schema}.{table}"
    if not types:
        raise UserError(f"{where} not found (or this role cannot see its columns)")
    missing = [f"{std} → {col}" for std, col in layout.columns.items() if col not in types]
    if missing:
        raise UserError(f"{where} has no column(s) {', '.join(missing)} (it has: {', '.join(sorted(types))})")
    typed: dict[str, bool] = {}
    for std, col in layout.columns.items():
        kind = types[col]
        typed[std] = kind not in TEXT_TYPES
        if typed[std] and std in TYPED_KINDS and kind not in TYPED_KINDS[std]:
            raise UserError(f"{where}: column {col} ({std}) is {kind}; use text or one of "
                            + ", ".join(sorted(TYPED_KINDS[std])))  # fmt: skip
    file_id = _relation_file_id(conn, layout)
    return {"schema": schema, "table": table, "file_id": file_id, "columns": dict(layout.columns),
            "typed": typed}  # fmt: skip


def _relation_file_id(conn, layout: Layout) -> int:
    fingerprint = layout.relation_fingerprint()
    name = f"{layout.source.schema_name}.{layout.source.table}"
    rules = layout.parse_rules()
    columns = ["file_name", "source_uri", "sha256", "size_bytes", "status", "started_at", *PARSE_RULE_COLUMNS]
    values = [name, f"warehouse:{name}", fingerprint, 0, "loaded", datetime.now(UTC),
              *(rules[k] for k in PARSE_RULE_COLUMNS)]  # fmt: skip
    with conn.cursor() as cur:
        cur.execute("select file_id from raw.files where sha256 = %s and status = 'loaded'", (fingerprint,))
        row = cur.fetchone()
        if row is None:
            cur.execute(
                sql.SQL("insert into raw.files ({}) values ({}) returning file_id").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                ),
                values,
            )
            row = cur.fetchone()
        # the relation's size as this cycle starts (what data_quality shows; nothing is copied)
        cur.execute(
            sql.SQL("select count(*) from {}.{}").format(
                sql.Identifier(layout.source.schema_name), sql.Identifier(layout.source.table)
            )
        )
        lines = cur.fetchone()[0]
        cur.execute(
            """update raw.files set rows_in_file = %s, rows_loaded = %s, rows_rejected = 0, loaded_at = now()
               where file_id = %s""",
            (lines, lines, row[0]),
        )
    conn.commit()
    return row[0]


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
