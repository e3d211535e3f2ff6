"""The read-only role BI tools (Metabase) use: USAGE + SELECT on the published marts, nothing else.

Two steps with two different rights:

- ``manage_bi_role`` (needs CREATEROLE, or a DBA): the role exists, can log in, is read-only, and its
  password is what INSIDERS_BI_PASSWORD says. The password goes to the server as a SCRAM verifier
  (never the literal, so ``log_statement`` cannot write it to the server log), and only when the role
  cannot already log in with it.
- ``grant_bi_access`` (the schema owner is enough): USAGE + SELECT on ``marts``, nothing on the other
  schemas. The publish re-grants inside its swap transaction, so after "a DBA runs `insiders bi grant`
  once" every later swap keeps Metabase working.
"""

from __future__ import annotations

import logging

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from insiders.publish import BUILD_SCHEMA, OLD_SCHEMA, check_reader, grant_published

log = logging.getLogger(__name__)

# Schemas the BI role must never read: loader, ML job, run history, dbt's inner layers, unpublished marts.
PRIVATE_SCHEMAS = (
    *("raw", "ml", "ops", "staging", "intermediate", "seeds", "dbt", "public"),
    *(BUILD_SCHEMA, OLD_SCHEMA),
)


def manage_bi_role(conn, role: str, password: str | None = None) -> bool:
    """Create/update the role. Returns False (and changes nothing) without the right to manage roles."""
    ident = sql.Identifier(role)
    try:
        with conn.cursor() as cur:
            check_reader(cur, role)
            cur.execute("select pg_advisory_xact_lock(hashtext('insiders.bi_role'))")
            # only what differs is changed: once a DBA made the role, a cycle without CREATEROLE sends nothing
            cur.execute("select rolcanlogin from pg_roles where rolname = %s", (role,))
            row = cur.fetchone()
            exists, can_login = row is not None, bool(row and row[0])
            if not exists:
                cur.execute(sql.SQL("create role {} nologin").format(ident))
            if password and not (can_login and _can_log_in(conn, role, password)):
                verifier = psycopg2.extensions.encrypt_password(password, role, conn, "scram-sha-256")
                cur.execute(sql.SQL("alter role {} login password %s").format(ident), (verifier,))
                log.info("BI role %s: password set", role)
            elif not password and not can_login:
                cur.execute(sql.SQL("alter role {} login").format(ident))
            cur.execute(
                "select coalesce(%s = any(rolconfig), false) from pg_roles where rolname = %s",
                ("default_transaction_read_only=on", role),
            )
            if not cur.fetchone()[0]:
                cur.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(ident))
        conn.commit()
    except psycopg2.errors.InsufficientPrivilege as exc:
        conn.rollback()
        log.warning(
            "cannot manage the BI role %s (%s); ask a DBA to run `insiders bi grant` once",
            role, str(exc).strip(),
        )  # fmt: skip
        return False
    return True


def _can_log_in(conn, role: str, password: str) -> bool:
    """Whether the role already logs in with this password (then nothing is sent)."""
    params = conn.get_dsn_parameters()
    keep = ("host", "port", "dbname", "sslmode", "sslrootcert", "sslcert", "sslkey", "hostaddr")
    try:
        psycopg2.connect(
            **{k: v for k, v in params.items() if k in keep},
            user=role,
            password=password,
            connect_timeout=5,
            application_name="insiders-bi-check",
        ).close()
    except psycopg2.Error:
        return False
    return True


def grant_bi_access(conn, role: str) -> bool:
    """USAGE + SELECT on the published marts; no rights on any other schema. False if the role is missing."""
    ident = sql.Identifier(role)
    with conn.cursor() as cur:
        check_reader(cur, role)
        cur.execute("select 1 from pg_roles where rolname = %s", (role,))
        if cur.fetchone() is None:
            conn.rollback()
            return False
        cur.execute("select current_database()")
        database = sql.Identifier(cur.fetchone()[0])
        cur.execute(sql.SQL("grant connect on database {} to {}").format(database, ident))
        cur.execute("select nspname from pg_namespace where nspname = any(%s)", (list(PRIVATE_SCHEMAS),))
        for (schema,) in cur.fetchall():
            name = sql.Identifier(schema)
            cur.execute(sql.SQL("revoke all on schema {} from {}").format(name, ident))
            cur.execute(sql.SQL("revoke all on all tables in schema {} from {}").format(name, ident))
        grant_published(cur, [role])
    conn.commit()
    log.info("BI role %s: read-only access to the published marts", role)
    return True


def ensure_bi_role(conn, role: str, password: str | None = None) -> bool:
    """Both steps (what `insiders bi grant` does). Returns False when the role could not be managed;
    the grants are made all the same when the role exists."""
    managed = manage_bi_role(conn, role, password)
    grant_bi_access(conn, role)
    return managed
