"""Row count and checksum of every published table (schemas marts and backtest), without the columns
that differ between any two runs (run ids, backtest ids, timestamps of the run, artefact paths).

Used to show a refactor leaves the marts the same: run a cycle on a fresh database before and after,
print the fingerprints, diff them.

    .venv/bin/python scripts/marts_fingerprint.py > before.txt
"""

from __future__ import annotations

import argparse

from psycopg2 import sql

from insiders import db
from insiders.settings import get_settings

VOLATILE = ("run_id", "backtest_id", "artifact_uri", "code_version", "seconds", "job_run_id")
VOLATILE_TYPES = ("timestamp with time zone",)


def fingerprints(
    conn, schemas: tuple[str, ...], ignore: tuple[str, ...] = (), digits: int | None = None
) -> list[str]:
    """One line per table: name, rows, md5 of the sorted rows, columns. ``digits``: floats rounded to
    that many decimals (sums of floats in another row order differ in the last bits)."""
    lines = []
    with conn.cursor() as cur:
        cur.execute(
            """select table_schema, table_name from information_schema.tables
               where table_schema = any(%s) order by 1, 2""",
            (list(schemas),),
        )
        for schema, table in cur.fetchall():
            cur.execute(
                """select column_name, data_type from information_schema.columns
                   where table_schema = %s and table_name = %s order by ordinal_position""",
                (schema, table),
            )
            kept = [
                (name, kind)
                for name, kind in cur.fetchall()
                if not any(v in name for v in VOLATILE)
                and kind not in VOLATILE_TYPES
                and name not in ignore
                and f"{table}.{name}" not in ignore
            ]
            columns = [name for name, _ in kept]
            types = ",".join(f"{name}:{kind}" for name, kind in kept)
            kinds = dict(kept)
            row = sql.SQL("row({})::text").format(
                sql.SQL(", ").join(
                    sql.SQL("round({}::numeric, {})").format(sql.Identifier(c), sql.Literal(digits))
                    if digits is not None and kinds[c] == "double precision"
                    else sql.Identifier(c)
                    for c in columns
                )
            )
            cur.execute(
                sql.SQL(
                    "select count(*), md5(coalesce(string_agg(r, '|' order by r), '')) from "
                    "(select {} as r from {}) t"
                ).format(row, sql.Identifier(schema, table))
            )
            count, digest = cur.fetchone()
            lines.append(f"{schema}.{table}\t{count}\t{digest}\t{len(columns)} columns: {types}")
    conn.rollback()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", action="append", default=None)
    parser.add_argument(
        "--ignore", action="append", default=[], help="a column (or table.column) left out (repeatable)"
    )
    parser.add_argument("--round", type=int, default=None, help="round floats to this many decimals")
    args = parser.parse_args()
    url = db.database_url(get_settings())
    with db.raw_connection(url) as conn:
        print(
            "\n".join(
                fingerprints(
                    conn, tuple(args.schema or ("marts", "backtest")), tuple(args.ignore), args.round
                )
            )
        )


if __name__ == "__main__":
    main()
