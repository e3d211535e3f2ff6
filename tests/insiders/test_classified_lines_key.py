"""The key of int_transactions_classified is checked by counting, not sorting
(tests/data/classified_lines_reconcile_with_files.sql): the check passes on a clean build and fails
when a file's lines are appended twice (by a later build too), when a join fans out, when a line is
missing, and when the source loses its primary key."""

from __future__ import annotations

import uuid

import pytest

from insiders import db, publish
from insiders.dbt import run_dbt
from insiders.errors import StepFailedError
from insiders.ingest import load_sources
from tests.conftest import require_shared_file
from tests.helpers import cut_sample

CHECK = "classified_lines_reconcile_with_files"
VARS = {"marts_schema": publish.BUILD_SCHEMA, "backtest_horizon_days": 91}
LINES = "intermediate.int_transactions_classified"


def _execute(url, sql, params=None):
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else None
        conn.commit()
        return rows


@pytest.fixture(scope="module")
def built(tmp_path_factory, pg_admin_url):
    """A database with one loaded file, its lines classified and a customer history built on them
    (so the check reads only the lines after the history's newest, as in a daily build)."""
    from insiders.settings import Settings

    folder = tmp_path_factory.mktemp("classified_key")
    sample = cut_sample(require_shared_file(), folder / "sample.csv.gz", 2_000, every=200)
    name = f"key_{uuid.uuid4().hex[:10]}"
    db.ensure_database(pg_admin_url, name)
    url = pg_admin_url.set(database=name)
    settings = Settings(
        database_url=url.render_as_string(hide_password=False),
        home=folder / "home",
        dbt_target_path=folder / "target",
        artifact_dir=folder / "artifacts",
        report_dir=folder / "reports",
        bi_role=f"bi_{uuid.uuid4().hex[:8]}",
    )
    load_sources(url, [str(sample)], settings)
    build = ["build", "--select", "+int_customer_invoices", CHECK, "--indirect-selection", "cautious"]
    run_dbt(build, url, settings, VARS, quiet=True)
    yield url, settings
    with db.raw_connection(pg_admin_url) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')


def _check(url, settings, *, full_refresh: bool = False) -> None:
    run_dbt(["build", "--select", CHECK, *(["--full-refresh"] if full_refresh else [])], url, settings, VARS,
            quiet=True)  # fmt: skip


def test_a_clean_build_passes(built):
    url, settings = built
    _check(url, settings)
    _check(url, settings, full_refresh=True)


def test_a_file_appended_again_by_a_later_build_fails(built):
    url, settings = built
    columns = [r[0] for r in _execute(
        url, "select column_name from information_schema.columns where table_schema = 'intermediate' "
             "and table_name = 'int_transactions_classified' and column_name != 'classified_at' "
             "order by ordinal_position")]  # fmt: skip
    listed = ", ".join(columns)
    _execute(url, f"insert into {LINES} ({listed}, classified_at) "
                  f"select {listed}, classified_at + interval '1 hour' from {LINES} where file_id = 1")  # fmt: skip
    try:
        # only the new copy is "not yet tested", and it is unique on its own: counting all the lines of
        # the files with new lines catches it
        with pytest.raises(StepFailedError, match=CHECK):
            _check(url, settings)
    finally:
        _execute(url, f"delete from {LINES} where classified_at > (select min(classified_at) from {LINES})")
    _check(url, settings)


def test_a_join_that_fans_out_fails(built):
    url, settings = built
    [(code,)] = _execute(url, f"select min(stock_code) from {LINES} where is_product")
    _execute(url, "insert into intermediate.int_stock_codes_classified "
                  "select * from intermediate.int_stock_codes_classified where stock_code = %s", (code,))  # fmt: skip
    rebuild = ["run", "--select", "int_transactions_classified", "--full-refresh"]
    try:
        run_dbt(rebuild, url, settings, VARS, quiet=True)
        with pytest.raises(StepFailedError, match=CHECK):
            _check(url, settings, full_refresh=True)
    finally:
        _execute(url, "delete from intermediate.int_stock_codes_classified where ctid in (select max(ctid) "
                      "from intermediate.int_stock_codes_classified where stock_code = %s)", (code,))  # fmt: skip
        run_dbt(rebuild, url, settings, VARS, quiet=True)
    _check(url, settings, full_refresh=True)


def test_a_missing_line_fails(built):
    url, settings = built
    [(line,)] = _execute(url, f"select min(line_number) from {LINES}")
    saved = _execute(url, f"select count(*) from {LINES}")[0][0]
    _execute(url, f"create table intermediate.saved_line as select * from {LINES} where line_number = %s",
             (line,))  # fmt: skip
    _execute(url, f"delete from {LINES} where line_number = %s", (line,))
    try:
        with pytest.raises(StepFailedError, match=CHECK):
            _check(url, settings, full_refresh=True)
    finally:
        _execute(
            url,
            f"insert into {LINES} select * from intermediate.saved_line; drop table intermediate.saved_line",
        )
    assert _execute(url, f"select count(*) from {LINES}")[0][0] == saved
    _check(url, settings, full_refresh=True)


def test_a_source_without_its_primary_key_fails(built):
    url, settings = built
    _execute(url, "alter table raw.transactions drop constraint transactions_pkey")
    try:
        with pytest.raises(StepFailedError, match=CHECK):
            _check(url, settings)
    finally:
        _execute(url, "alter table raw.transactions add primary key (file_id, line_number)")
    _check(url, settings)
