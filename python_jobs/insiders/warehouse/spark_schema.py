"""The tables the job writes on Spark (raw, ml, ops): Spark SQL DDL, the same columns as the Postgres
DDL of insiders/sql (json kept as JSON text, text[] as array<string>, timestamptz as timestamp).

Parquet tables (locally; Delta on Databricks). Tables a unit of work writes several rows into are
partitioned by that unit's id (raw: ``file_id``, ml: ``run_id``, the partition column last as Spark
wants): a unit is then one partition per table, so an unfinished one (no manifest row / no run row,
written last) is dropped as whole partitions, and a new unit never mixes with an unfinished one.
"""

from __future__ import annotations

import re
from importlib import resources

from insiders.layouts import PARSE_RULE_COLUMNS

_RULE_TYPES = {
    "layout_name": "string", "layout": "string", "date_pattern": "string",
    "date_year_group": "int", "date_month_group": "int", "date_day_group": "int",
    "date_hour_group": "int", "date_minute_group": "int", "date_second_group": "int",
    "date_ampm_group": "int", "is_two_digit_year": "boolean", "is_month_name": "boolean",
    "decimal_separator": "string", "thousands_separator": "string",
    "cancellation_prefix": "string", "adjustment_prefix": "string",
}  # fmt: skip
assert set(_RULE_TYPES) == set(PARSE_RULE_COLUMNS), "a parse rule without a Spark type"

# table → (columns "name type, ...", partition column or None)
TABLES: dict[str, tuple[str, str | None]] = {
    "raw.files": (
        "file_id bigint, file_name string, source_uri string, sha256 string, etag string, "
        "size_bytes bigint, encoding string, rows_in_file int, rows_loaded int, rows_rejected int, "
        "status string, error string, started_at timestamp, loaded_at timestamp, "
        + ", ".join(f"{c} {_RULE_TYPES[c]}" for c in PARSE_RULE_COLUMNS)
        + ", attempted_by string",
        None,
    ),
    "raw.transactions": (
        "line_number int, invoice_no string, stock_code string, description string, quantity string, "
        "invoice_date string, unit_price string, customer_id string, country string, file_id bigint",
        "file_id",
    ),
    "raw.rejected_rows": ("line_number int, raw_line string, reason string, file_id bigint", "file_id"),
    "ml.segmentation_runs": (
        "run_id string, status string, error string, started_at timestamp, finished_at timestamp, "
        "as_of_date date, code_version string, algorithm string, parameters string, "
        "features array<string>, random_seed int, features_schema string, n_customers int, chosen_k int, "
        "silhouette double, davies_bouldin double, calinski_harabasz double, inertia double, bic double, "
        "insiders_segment_id int, previous_run_id string, adjusted_rand_index double, "
        "customers_compared int, rules_fidelity double, artifact_uri string, seconds double, "
        "purpose string",
        None,
    ),
    "ml.segmentation_candidates": (
        "algorithm string, k int, n_segments int, silhouette double, davies_bouldin double, "
        "calinski_harabasz double, inertia double, bic double, smallest_share double, "
        "insiders_share double, insiders_revenue_share double, selection_tier int, is_chosen boolean, "
        "fit_seconds double, run_id string",
        "run_id",
    ),
    "ml.segments": (
        "segment_id int, archetype string, is_insider boolean, model_label int, size int, "
        "centre string, centre_original string, profile string, matched_by string, match_cost double, "
        "run_id string",
        "run_id",
    ),
    "ml.customer_segments": (
        "customer_id string, segment_id int, distance_to_centre double, probability double, "
        "features string, run_id string",
        "run_id",
    ),
    "ml.insider_rules": (
        "rule_id int, rule_text string, predicts_insider boolean, support int, precision double, "
        "recall double, run_id string",
        "run_id",
    ),
    "ml.insider_rule_conditions": (
        "rule_id int, condition_id int, feature string, operator string, threshold double, run_id string",
        "run_id",
    ),
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
_ADD = re.compile(r"alter table (\w+\.\w+) add column if not exists (\w+) ([a-z ]+?\[?\]?)\s*;")


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
            kind = next(
                t for t in sorted(_PG_TYPES, key=len, reverse=True) if " ".join(words[1:]).startswith(t)
            )
            cols.append((words[0], _PG_TYPES[kind]))
        tables[name] = (cols, partition)
    for name, column, kind in _ADD.findall(ddl):
        cols = tables[name][0]
        if column not in dict(cols):
            cols.append((column, _PG_TYPES[kind.strip()]))
    out = {}
    for name, (cols, partition) in tables.items():
        ordered = [c for c in cols if c[0] != partition] + [c for c in cols if c[0] == partition]
        out[name] = (", ".join(f"{c} {k}" for c, k in ordered), partition)
    return out


TABLES.update(
    tables_from_postgres_ddl(
        resources.files("insiders").joinpath("sql", "ml_forecast_schema.sql").read_text()
    )
)


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
    for table, (spec, partition) in TABLES.items():
        if not table.startswith(prefix + "."):
            continue
        spark.sql(f"create database if not exists {prefix}")
        partitioned = f" partitioned by ({partition})" if partition else ""
        spark.sql(f"create table if not exists {table} ({spec}) using parquet{partitioned}")
