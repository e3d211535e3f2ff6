"""Helpers of the Spark-vs-Postgres comparison suite: the grain of each model (from dbt's manifest),
a relation read from either engine as normalised rows, and the differences between two such reads."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from pathlib import Path

TOLERANCE = 1e-6  # absolute; large sums (revenue) also get a relative 1e-12 for the doubles' last bits


def model_grains(manifest_path: Path) -> dict[str, list[str]]:
    """Model name → its key columns, from its `unique_combination_of_columns` or `unique` data test."""
    manifest = json.loads(manifest_path.read_text())
    grains: dict[str, list[str]] = {}
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        if node["resource_type"] != "test" or not node.get("attached_node"):
            continue
        model = node["attached_node"].split(".")[-1]
        kwargs = meta.get("kwargs") or {}
        if meta.get("name") == "unique_combination_of_columns":
            grains[model] = list(kwargs["combination_of_columns"])
        elif (
            meta.get("name") == "unique"
            and model not in grains
            and node.get("column_name")
            and not (node.get("config") or {}).get("where")
        ):
            grains[model] = [node["column_name"]]
    return grains


def normalise(value):
    """A value of either engine in one comparable form: numbers as float, JSON text as objects,
    timestamps naive UTC, NaN as None."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return normalise(value.to_pydatetime())
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    return value


def _json_or_text(value):
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return normalise(json.loads(value))
        except ValueError:
            return value
    return value


def read_postgres(conn, schema: str, table: str) -> tuple[list[str], list[dict]]:
    with conn.cursor() as cur:
        cur.execute(f'select * from "{schema}"."{table}"')
        columns = [d.name for d in cur.description]
        rows = [dict(zip(columns, (normalise(v) for v in row), strict=True)) for row in cur.fetchall()]
    conn.rollback()
    return columns, rows


def read_spark(spark, schema: str, table: str) -> tuple[list[str], list[dict]]:
    frame = spark.table(f"{schema}.{table}")
    columns = frame.columns
    rows = [{c: normalise(row[c]) for c in columns} for row in frame.collect()]
    return columns, rows


def equal_values(a, b) -> bool:
    a, b = _json_or_text(a), _json_or_text(b)
    if (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and (isinstance(a, float) or isinstance(b, float))
    ):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=TOLERANCE)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal_values(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal_values(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _key_text(value) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{float(value):.6f}"  # 10 (a Spark bigint) and 10.0 (a Postgres numeric) are one key
    return str(value)


def _sort_key(row: dict, keys: list[str]):
    return tuple((row[k] is None, _key_text(row[k])) for k in keys)


def differences(
    postgres: tuple[list[str], list[dict]],
    spark: tuple[list[str], list[dict]],
    keys: list[str] | None,
    ignore: frozenset[str] = frozenset(),
    limit: int = 10,
) -> list[str]:
    """What differs between the two reads of one relation (empty: equal). Rows are matched on
    `keys` (the grain); without a grain, on every column that is not a float."""
    pg_columns, pg_rows = postgres
    sp_columns, sp_rows = spark
    found = []
    if set(pg_columns) != set(sp_columns):
        found.append(f"columns differ: only Postgres {sorted(set(pg_columns) - set(sp_columns))}, "
                     f"only Spark {sorted(set(sp_columns) - set(pg_columns))}")  # fmt: skip
        return found
    if len(pg_rows) != len(sp_rows):
        found.append(f"rows: Postgres {len(pg_rows)}, Spark {len(sp_rows)}")
    compared = [c for c in pg_columns if c not in ignore]
    if not keys:
        keys = [c for c in compared if not any(isinstance(r[c], float) for r in pg_rows + sp_rows)]
    pg_by_key = {_sort_key(r, keys): r for r in pg_rows}
    sp_by_key = {_sort_key(r, keys): r for r in sp_rows}
    if len(pg_by_key) != len(pg_rows) or len(sp_by_key) != len(sp_rows):
        found.append(f"keys {keys} are not unique")
    only_pg, only_sp = pg_by_key.keys() - sp_by_key.keys(), sp_by_key.keys() - pg_by_key.keys()
    if only_pg or only_sp:
        found.append(f"keys {keys}: {len(only_pg)} only on Postgres (e.g. {sorted(only_pg)[:3]}), "
                     f"{len(only_sp)} only on Spark (e.g. {sorted(only_sp)[:3]})")  # fmt: skip
    for key in sorted(pg_by_key.keys() & sp_by_key.keys()):
        for column in compared:
            a, b = pg_by_key[key][column], sp_by_key[key][column]
            if not equal_values(a, b):
                found.append(f"{column} at {dict(zip(keys, (k[1] for k in key), strict=True))}: "
                             f"Postgres {a!r}, Spark {b!r}")  # fmt: skip
                if len(found) >= limit:
                    return found
    return found


def max_abs_difference(postgres, spark, keys: list[str]) -> dict[str, float]:
    """Per float column, the largest |Postgres - Spark| over matched rows (what the docs report)."""
    pg_by_key = {_sort_key(r, keys): r for r in postgres[1]}
    sp_by_key = {_sort_key(r, keys): r for r in spark[1]}
    worst: dict[str, float] = {}
    for key in pg_by_key.keys() & sp_by_key.keys():
        for column, a in pg_by_key[key].items():
            b = sp_by_key[key].get(column)
            if isinstance(a, float) and isinstance(b, float):
                worst[column] = max(worst.get(column, 0.0), abs(a - b))
    return worst
