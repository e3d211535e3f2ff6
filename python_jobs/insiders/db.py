"""Database access: which Postgres to use, the embedded one's life cycle, engines and connections.

Nothing here connects at import time. ``database_url(settings)`` is the one place that decides whether
the project talks to a configured server (``INSIDERS_DATABASE_URL``) or to its own embedded Postgres,
a cluster of the machine's PostgreSQL binaries kept under ``.insiders/pgdata``.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from insiders.errors import UserError
from insiders.retry import with_retries
from insiders.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_USER = "insiders"
EMBEDDED_DB = "insiders"
# Postgres refuses to run as root; when we are root the embedded cluster runs as this OS user.
SERVICE_OS_USER = "postgres"


# --------------------------------------------------------------------------------------------- URLs
def database_url(settings: Settings) -> URL:
    """The SQLAlchemy URL of the database everything uses (with the psycopg2 driver)."""
    if settings.database_url is not None:
        url = make_url(settings.database_url.get_secret_value())
    else:
        url = URL.create(
            "postgresql",
            username=EMBEDDED_USER,
            host="127.0.0.1",
            port=settings.pg_port,
            database=EMBEDDED_DB,
        )
    if url.get_backend_name() != "postgresql":
        raise UserError(f"INSIDERS_DATABASE_URL must be a postgresql:// URL, not {url.get_backend_name()}://")
    return url.set(drivername="postgresql+psycopg2")


def libpq_url(url: URL, *, hide_password: bool = True) -> str:
    """A URL that psql and libpq accept (no SQLAlchemy driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=hide_password)


def dbt_env(url: URL) -> dict[str, str]:
    """Environment variables read by profiles.yml (see profiles.yml.example)."""
    env = {
        "INSIDERS_PGHOST": url.host or "127.0.0.1",
        "INSIDERS_PGPORT": str(url.port or 5432),
        "INSIDERS_PGUSER": url.username or "",
        "INSIDERS_PGPASSWORD": url.password or "",
        "INSIDERS_PGDATABASE": url.database or "",
    }
    sslmode = url.query.get("sslmode")
    if sslmode:
        env["INSIDERS_PGSSLMODE"] = str(sslmode)
    return env


# ------------------------------------------------------------------------------------ connections
def make_engine(url: URL) -> sa.Engine:
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"application_name": "insiders"})


def connect_raw(url: URL, *, attempts: int = 1):
    """A psycopg2 connection (for COPY); the caller closes it.

    With ``attempts`` > 1, refused or dropped connections are retried with exponential backoff;
    permanent errors (bad password, unknown database) fail at once.
    """

    def connect():
        return psycopg2.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            dbname=url.database,
            application_name="insiders",
            connect_timeout=10,
            **dict(url.query),
        )

    try:
        return with_retries(connect, what=f"connect to {libpq_url(url)}", attempts=attempts)
    except psycopg2.OperationalError as exc:
        raise UserError(f"cannot connect to {libpq_url(url)}: {str(exc).strip()}") from exc


@contextmanager
def raw_connection(url: URL) -> Iterator[psycopg2.extensions.connection]:
    conn = connect_raw(url)
    try:
        yield conn
    finally:
        conn.close()


def wait_until_ready(url: URL, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connect_raw(url).close()
            return
        except UserError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# ------------------------------------------------------------------------------ embedded Postgres
def find_pg_bin(settings: Settings) -> Path:
    """Folder holding initdb and pg_ctl: INSIDERS_PG_BIN, pg_config --bindir, Debian's layout, PATH."""
    candidates: list[Path] = []
    if settings.pg_bin:
        candidates.append(Path(settings.pg_bin))
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    candidates.extend(Path(p) for p in reversed(debian))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise UserError(
        "no PostgreSQL server binaries found (initdb, pg_ctl); install postgresql "
        "(apt-get install postgresql) or set INSIDERS_PG_BIN, or set INSIDERS_DATABASE_URL"
    )


def _as_service_user() -> list[str]:
    """Command prefix that drops root privileges, since postgres will not run as root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVICE_OS_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVICE_OS_USER], check=True)
    return ["runuser", "-u", SERVICE_OS_USER, "--"]


def _chown_for_service(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVICE_OS_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(_as_service_user() + cmd, capture_output=True, text=True, check=False, **kwargs)


SERVER_OPTIONS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "shared_buffers": "256MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "2GB",
    "synchronous_commit": "off",
    "max_connections": "50",
}


def embedded_is_running(pgdata: Path, pg_bin: Path) -> bool:
    if not (pgdata / "PG_VERSION").exists():
        return False
    return _run([str(pg_bin / "pg_ctl"), "-D", str(pgdata), "status"]).returncode == 0


def start_embedded(pgdata: Path, port: int, pg_bin: Path, *, database: str = EMBEDDED_DB) -> URL:
    """Initialise (once) and start a Postgres cluster in ``pgdata``; idempotent. Returns its URL."""
    url = URL.create(
        "postgresql+psycopg2", username=EMBEDDED_USER, host="127.0.0.1", port=port, database=database
    )
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _chown_for_service(pgdata.parent)
    if not (pgdata / "PG_VERSION").exists():
        log.info("initialising embedded Postgres in %s", pgdata)
        pgdata.mkdir(parents=True, exist_ok=True)
        _chown_for_service(pgdata)
        out = _run(
            [
                str(pg_bin / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                EMBEDDED_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        )
        if out.returncode != 0:
            raise UserError(f"initdb failed: {out.stderr.strip() or out.stdout.strip()}")
    if not embedded_is_running(pgdata, pg_bin):
        log.info("starting embedded Postgres on 127.0.0.1:%s", port)
        options = " ".join(f"-c {k}={v!s}" if v else f"-c {k}=''" for k, v in SERVER_OPTIONS.items())
        out = _run(
            [
                str(pg_bin / "pg_ctl"),
                "-D",
                str(pgdata),
                "-l",
                str(pgdata / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} {options}",
                "start",
            ]
        )
        if out.returncode != 0:
            tail = ""
            logfile = pgdata / "server.log"
            if logfile.exists():
                tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-5:])
            raise UserError(
                f"embedded Postgres did not start (port {port} busy?): {out.stderr.strip()}\n{tail}"
            )
    wait_until_ready(url.set(database="postgres"))
    ensure_database(url.set(database="postgres"), database)
    return url


def stop_embedded(pgdata: Path, pg_bin: Path) -> bool:
    """Stop the embedded cluster; returns False when it was not running."""
    if not embedded_is_running(pgdata, pg_bin):
        return False
    out = _run([str(pg_bin / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"])
    if out.returncode != 0:
        raise UserError(f"pg_ctl stop failed: {out.stderr.strip()}")
    return True


def ensure_database(admin_url: URL, name: str) -> None:
    with raw_connection(admin_url) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'create database "{name}"')


def ensure_database_ready(settings: Settings) -> URL:
    """The URL to use, starting the embedded Postgres first when no server is configured."""
    if settings.uses_embedded_db:
        return start_embedded(settings.pgdata, settings.pg_port, find_pg_bin(settings))
    url = database_url(settings)
    connect_raw(url, attempts=settings.db_connect_attempts).close()
    return url
