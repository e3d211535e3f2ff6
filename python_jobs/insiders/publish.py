"""Atomic publication of the marts: build into a side schema, then swap it in in one transaction.

Metabase reads ``marts``. A cycle builds every mart into ``marts__build``; only when all steps and
tests passed does ``publish`` rename ``marts`` away and ``marts__build`` into its place, in a single
transaction, so readers see either the previous complete set or the new complete set, never a mix.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

LIVE_SCHEMA = "marts"
BUILD_SCHEMA = "marts__build"
OLD_SCHEMA = "marts__previous"


def _schema_exists(cur, name: str) -> bool:
    cur.execute("select 1 from pg_namespace where nspname = %s", (name,))
    return cur.fetchone() is not None


def _role_exists(cur, role: str) -> bool:
    cur.execute("select 1 from pg_roles where rolname = %s", (role,))
    return cur.fetchone() is not None


def prepare_build_schema(conn, readers: list[str] | None = None) -> None:
    """Start from an empty build schema; tables dbt creates there are readable by ``readers``."""
    with conn.cursor() as cur:
        cur.execute(f"drop schema if exists {BUILD_SCHEMA} cascade")
        cur.execute(f"create schema {BUILD_SCHEMA}")
        for role in readers or []:
            if _role_exists(cur, role):
                cur.execute(f'grant usage on schema {BUILD_SCHEMA} to "{role}"')
                cur.execute(
                    f'alter default privileges in schema {BUILD_SCHEMA} grant select on tables to "{role}"'
                )
    conn.commit()


def publish(conn, readers: list[str] | None = None, lock_timeout: str = "60s") -> None:
    """Swap the build schema in as the live marts, in one transaction."""
    with conn.cursor() as cur:
        cur.execute("set local lock_timeout = %s", (lock_timeout,))
        if not _schema_exists(cur, BUILD_SCHEMA):
            raise RuntimeError(f"nothing to publish: schema {BUILD_SCHEMA} does not exist")
        for role in readers or []:  # roles created after the build schema was prepared
            if _role_exists(cur, role):
                cur.execute(f'grant usage on schema {BUILD_SCHEMA} to "{role}"')
                cur.execute(f'grant select on all tables in schema {BUILD_SCHEMA} to "{role}"')
        cur.execute(f"drop schema if exists {OLD_SCHEMA} cascade")
        if _schema_exists(cur, LIVE_SCHEMA):
            cur.execute(f"alter schema {LIVE_SCHEMA} rename to {OLD_SCHEMA}")
        cur.execute(f"alter schema {BUILD_SCHEMA} rename to {LIVE_SCHEMA}")
        cur.execute(f"drop schema if exists {OLD_SCHEMA} cascade")
    conn.commit()
    log.info("published %s as %s", BUILD_SCHEMA, LIVE_SCHEMA)
