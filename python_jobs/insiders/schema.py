"""``ensure_schema``: create or upgrade a schema the project's Python writes (``ml``, ``ops``...) from
its DDL file in ``insiders/sql``, once at a time per database, in its own transaction."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources


def ensure_schema(conn, ddl_file: str, then: Callable[[object], None] | None = None) -> None:
    """Run ``insiders/sql/<ddl_file>`` (idempotent DDL) under a transaction-scoped advisory lock keyed
    on the file, so two processes upgrading the same schema do not race; ``then(cursor)``, when given,
    runs in the same transaction (a data upgrade that goes with the DDL); commits."""
    ddl = resources.files("insiders").joinpath("sql", ddl_file).read_text()
    with conn.cursor() as cur:
        cur.execute(
            "select pg_advisory_xact_lock(hashtext(%s))", (f"insiders.{ddl_file.removesuffix('.sql')}",)
        )
        cur.execute(ddl)
        if then is not None:
            then(cur)
    conn.commit()
