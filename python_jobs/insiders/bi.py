"""The read-only role BI tools (Metabase) use: USAGE + SELECT on the marts schema, nothing else.

Idempotent; every cycle calls it so the role, its grants and the default privileges of the schema
the marts are built into are always in place (the atomic publish renames schemas, and grants travel
with a renamed schema).
"""

from __future__ import annotations

import logging

import psycopg2
from psycopg2 import sql

from insiders.publish import BUILD_SCHEMA, LIVE_SCHEMA

log = logging.getLogger(__name__)

# Schemas the BI role must never read: loader, ML job, run history, dbt's inner layers.
PRIVATE_SCHEMAS = ("raw", "ml", "ops", "staging", "intermediate", "seeds", "dbt", "public")


def ensure_bi_role(conn, role: str, password: str | None = None) -> bool:
    """Create/update the role and its grants. Returns False when we lack the right to manage roles."""
    ident = sql.Identifier(role)
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(hashtext('insiders.bi_role'))")
            cur.execute("select 1 from pg_roles where rolname = %s", (role,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("create role {} nologin").format(ident))
            if password:
                cur.execute(sql.SQL("alter role {} login password %s").format(ident), (password,))
            else:
                cur.execute(sql.SQL("alter role {} login").format(ident))
            cur.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(ident))
            cur.execute("select current_database()")
            database = sql.Identifier(cur.fetchone()[0])
            cur.execute(sql.SQL("grant connect on database {} to {}").format(database, ident))
            cur.execute("select nspname from pg_namespace where nspname = any(%s)", (list(PRIVATE_SCHEMAS),))
            for (schema,) in cur.fetchall():
                cur.execute(sql.SQL("revoke all on schema {} from {}").format(sql.Identifier(schema), ident))
                cur.execute(
                    sql.SQL("revoke all on all tables in schema {} from {}").format(
                        sql.Identifier(schema), ident
                    )
                )
            for schema in (LIVE_SCHEMA, BUILD_SCHEMA):
                cur.execute("select 1 from pg_namespace where nspname = %s", (schema,))
                if cur.fetchone() is None:
                    continue
                name = sql.Identifier(schema)
                cur.execute(sql.SQL("grant usage on schema {} to {}").format(name, ident))
                cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(name, ident))
                cur.execute(
                    sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(
                        name, ident
                    )
                )
        conn.commit()
    except psycopg2.errors.InsufficientPrivilege as exc:
        conn.rollback()
        log.warning("cannot manage the BI role %s (%s); ask a DBA to run `insiders bi grant`", role, exc)
        return False
    log.info("BI role %s: read-only access to schema %s", role, LIVE_SCHEMA)
    return True
