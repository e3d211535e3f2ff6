"""The tables the job writes on Spark (raw, ml, ops): Spark SQL DDL. raw and ml are derived from the
Postgres DDL of insiders/sql (the same columns, defined once there; jsonb kept as JSON text, text[] as
array<string>, timestamptz as timestamp, constraints left out).

Parquet tables (locally; Delta on Databricks). Tables a unit of work writes several rows into are
partitioned by that unit's id (raw: ``file_id``, ml: ``run_id``, the partition column last as Spark
wants): a unit is then one partition per table, so an unfinished one (no manifest row / no run row,
written last) is dropped as whole partitions, and a new unit never mixes with an unfinished one.
"""

from __future__ import annotations

import re
from importlib import resources

# table → (columns "name type, ...", partition column or None). raw and ml: derived from the Postgres
# DDL files below (one list of columns); ops: Spark's own (append-only runs, a lock row).
TABLES: dict[str, tuple[str, str | None]] = {
    # append-only: a status change is a new row; the latest row of a job_run_id is its state
    "ops.job_runs": (
        "job_run_id bigint, command string, started_at timestamp, recorded_at timestamp, "
        "finished_at timestamp, status string, exit_code int, sources array<string>, files_loaded int, "
        "files_skipped int, files_failed int, rows_loaded bigint, rows_rejected bigint, "
        "step_seconds string, segmentation_run_id string, hostname string, pid int, error string, "
        "published_at timestamp",
        None,
    ),
    # at most one row: the holder of the cycle lock (see SparkWarehouse.cycle_lock)
    "ops.cycle_lock": ("owner string, acquired_at timestamp, heartbeat_at timestamp", None),
}


_PG_TYPES = {
    "text": "string", "double precision": "double", "integer": "int", "bigint": "bigint", "date": "date",
    "timestamptz": "timestamp", "timestamp": "timestamp", "boolean": "boolean", "jsonb": "string",
    "text[]": "array<string>",
}  # fmt: skip
_CREATE = re.compile(r"create table if not exists (\w+\.\w+) \((.*?)\n\);", re.S)
_ADD = re.compile(r"alter table (\w+\.\w+) add column if not exists (\w+) ([^;]+);")


def _spark_type(definition: str) -> str:
    """The Spark type of a Postgres column definition (its type, then e.g. ``not null default ...``)."""
    for kind in sorted(_PG_TYPES, key=len, reverse=True):
        if definition == kind or definition.startswith(kind + " "):
            return _PG_TYPES[kind]
    raise ValueError(f"no Spark type for the Postgres column definition {definition!r}")


def tables_from_postgres_ddl(ddl: str) -> dict[str, tuple[str, str | None]]:
    """Spark tables from a Postgres DDL file of insiders/sql (its columns stay defined in one place):
    the columns of each ``create table`` and ``add column if not exists``, constraints left out. A table
    whose key is one id column is a unit's marker row (unpartitioned); a table whose key starts with
    that id plus more columns is partitioned by it."""
    ddl = re.sub(r"[ \t]*--[^\n]*", "", ddl)
    ddl = re.sub(r"[ \t]+\n", "\n", ddl)
    tables: dict[str, tuple[list[str], str | None]] = {}
    for name, body in _CREATE.findall(ddl):
        cols, partition = [], None
        for line in (part.strip() for part in body.split(",\n")):
            key = re.match(r"primary key \((\w+), ", line)
            if key:
                partition = key.group(1)
            words = line.split()
            if not words or words[0] in ("primary", "unique", "foreign", "check", "constraint"):
                continue
            cols.append((words[0], _spark_type(" ".join(words[1:]))))
        tables[name] = (cols, partition)
    for name, column, kind in _ADD.findall(ddl):
        cols = tables[name][0]
        if column not in dict(cols):
            cols.append((column, _spark_type(kind.strip())))
    out = {}
    for name, (cols, partition) in tables.items():
        ordered = [c for c in cols if c[0] != partition] + [c for c in cols if c[0] == partition]
        out[name] = (", ".join(f"{c} {k}" for c, k in ordered), partition)
    return out


for _ddl in ("raw_schema.sql", "ml_schema.sql", "ml_forecast_schema.sql"):
    TABLES.update(tables_from_postgres_ddl(resources.files("insiders").joinpath("sql", _ddl).read_text()))


def column_types(table: str) -> dict[str, str]:
    """Column name → Spark type of ``table``, in the order Spark stores them (partition column last)."""
    return dict(part.strip().split(" ", 1) for part in _split(TABLES[table][0]))


def columns(table: str) -> list[str]:
    return list(column_types(table))


def _split(spec: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in spec:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


def ensure_tables(spark, prefix: str) -> None:
    """Create the databases and tables of ``prefix`` ("raw", "ml", "ops") that do not exist yet."""
    if not spark.catalog.databaseExists(prefix):  # once: each "if not exists" logged a metastore error
        spark.sql(f"create database if not exists {prefix}")
    for table, (spec, partition) in TABLES.items():
        if not table.startswith(prefix + "."):
            continue
        partitioned = f" partitioned by ({partition})" if partition else ""
        spark.sql(f"create table if not exists {table} ({spec}) using parquet{partitioned}")
