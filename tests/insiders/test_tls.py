"""verify-full TLS, with a client certificate, reaches the loader, the job and dbt alike.

A real Postgres with TLS on and only `hostssl ... clientcert=verify-full` in pg_hba.conf, its
certificates signed by a CA made here with openssl.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from insiders import db
from insiders.dbt import run_dbt
from insiders.errors import UserError
from insiders.ingest import load_sources
from insiders.settings import Settings
from tests.helpers import HEADER, write_export

JOB_USER = "shop_job"
# TLS only; the job's user also needs a client certificate signed by the CA (CN = user name)
HBA_TLS_ONLY = f"""hostssl all {JOB_USER} 127.0.0.1/32 scram-sha-256 clientcert=verify-full
hostssl all {db.EMBEDDED_USER} 127.0.0.1/32 scram-sha-256
"""
PASSWORD = "tls-job-password"


def _openssl(*args, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(folder: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=folder)  # fmt: skip


def _sign(folder: Path, ca: str, name: str, cn: str, san: str | None = None) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", cwd=folder)  # fmt: skip
    extra = []
    if san:
        (folder / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        extra = ["-extfile", f"{name}.ext"]
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *extra, cwd=folder)  # fmt: skip
    (folder / f"{name}.key").chmod(0o600)


@pytest.fixture(scope="module")
def tls_server():
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test CA")
    folder = Path(tempfile.mkdtemp(prefix="insiders-tls-"))
    folder.chmod(0o755)
    certs, server_certs = folder / "client", folder / "server"
    certs.mkdir()
    server_certs.mkdir()
    _make_ca(certs, "ca")
    _make_ca(certs, "other_ca")
    _sign(certs, "ca", "server", "localhost", "DNS:localhost,IP:127.0.0.1")
    _sign(certs, "ca", "client", JOB_USER)
    for name in ("server.crt", "server.key", "ca.crt"):
        shutil.copy(certs / name, server_certs / name)
        db._chown_for_service(server_certs / name)
    db._chown_for_service(server_certs)
    pgdata, pg_bin, port = folder / "pgdata", db.find_pg_bin(Settings()), db._os_free_port()
    options = {
        "ssl": "on",
        "ssl_cert_file": str(server_certs / "server.crt"),
        "ssl_key_file": str(server_certs / "server.key"),
        "ssl_ca_file": str(server_certs / "ca.crt"),
    }
    url = URL.create(
        "postgresql+psycopg2",
        username=JOB_USER,
        password=PASSWORD,
        host="localhost",
        port=port,
        database="postgres",
        query={
            "sslmode": "verify-full",
            "sslrootcert": str(certs / "ca.crt"),
            "sslcert": str(certs / "client.crt"),
            "sslkey": str(certs / "client.key"),
        },
    )
    try:  # stopped even when the setup fails halfway
        admin = db.start_embedded(
            pgdata, port, pg_bin, database="postgres", options=options, hba_conf=HBA_TLS_ONLY
        )
        with db.raw_connection(admin) as conn, conn.cursor() as cur:
            cur.execute(f"create role {JOB_USER} login password %s", (PASSWORD,))
            cur.execute(f"grant create on database postgres to {JOB_USER}")
            conn.commit()
        yield url, certs
    finally:
        db.stop_embedded(pgdata, pg_bin)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_loader_and_the_job_connect_with_verify_full_and_a_client_certificate(
    tls_server, tmp_path, settings_for
):
    url, _ = tls_server
    export = write_export(
        tmp_path / "shop.csv",
        [HEADER, "536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom"],
    )
    [result] = load_sources(url, [str(export)], settings_for(url))
    assert (result.status, result.rows_loaded) == ("loaded", 1)
    engine = db.make_engine(url)  # the segmentation job's engine
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select ssl from pg_stat_ssl where pid = pg_backend_pid()")).scalar()
            assert conn.execute(sa.text("select count(*) from raw.transactions")).scalar() == 1
    finally:
        engine.dispose()


def test_dbt_gets_the_same_tls_settings(tls_server, settings_for, tmp_path):
    url, _ = tls_server
    env = db.dbt_env(url)
    assert env["INSIDERS_PGSSLMODE"] == "verify-full"
    assert {"INSIDERS_PGSSLROOTCERT", "INSIDERS_PGSSLCERT", "INSIDERS_PGSSLKEY"} <= env.keys()
    run_dbt(["show", "--inline", "select 1 as x"], url, settings_for(url), quiet=True)


def test_a_server_certificate_from_another_ca_or_no_client_certificate_is_refused(tls_server):
    url, certs = tls_server
    wrong = url.update_query_dict({"sslrootcert": str(certs / "other_ca.crt")})
    with pytest.raises(UserError, match="certificate verify failed"):
        db.connect_raw(wrong).close()
    without_cert = url.difference_update_query(["sslcert", "sslkey"])
    with pytest.raises(UserError, match="certificate"):
        db.connect_raw(without_cert).close()
