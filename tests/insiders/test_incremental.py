"""Incremental equals full: history + a day's delivery, built incrementally, gives the marts a full
rebuild of the same files gives, row for row (scripts/marts_fingerprint.py), with a late return of an
old invoice and an invoice whose lines come in two files."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import uuid
from collections import deque
from pathlib import Path

import pytest

from insiders import db, publish
from insiders.cycle import CyclePlan, run_cycle
from insiders.dbt import run_dbt
from insiders.errors import StepFailedError
from insiders.ingest import load_sources
from insiders.settings import PROJECT_ROOT
from tests.conftest import require_shared_file
from tests.helpers import HEADER, cut_sample, write_export

HISTORY_ROWS = 6_000  # one line in 90 of the shared file: ~1,700 customers over the whole year
LAST_DAY_LINES = 400  # the shared file's last lines (9 Dec 2011): new invoices of known and new customers
HISTORIES = (
    "int_transactions_classified",
    "int_customer_invoices",
    "int_customer_products",
    "int_customer_country_days",
    "int_customer_return_days",
)
# incremental too, compared with the histories; the facts' reference_date is the date a row was computed
# as of (a row not recomputed keeps it), so it is left out
INCREMENTAL = (*HISTORIES, "int_stock_codes_classified", "int_customer_facts_by_reference_date")
FEATURES = "int_customer_features_by_reference_date"
NEW_STOCK_CODE = "99999X"  # a product code only the day's file has


def _fingerprints_module():
    spec = importlib.util.spec_from_file_location(
        "marts_fingerprint", PROJECT_ROOT / "scripts" / "marts_fingerprint.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _query(url, sql, params=None):
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _old_invoice(history: Path) -> dict:
    """An identified customer's purchase invoice from the first month, with its product lines."""
    with gzip.open(history, "rt", encoding="latin-1", newline="") as fh:
        for row in csv.DictReader(fh):
            if (
                row["CustomerID"]
                and row["InvoiceNo"].isdigit()
                and row["InvoiceDate"].split(" ")[0].endswith("/2010")
                and row["StockCode"][:1].isdigit()
                and int(row["Quantity"]) > 0
                and float(row["UnitPrice"]) > 0
            ):
                return row
    raise AssertionError("no purchase line of December 2010 in the sample")


def _delivery(history: Path, target: Path) -> tuple[Path, dict]:
    """The day's file: the last lines of the shared file, one more line of an old invoice (same
    invoice id, date and customer, another product), a return of that invoice on the last day and a
    purchase of a product code never seen before."""
    old = _old_invoice(history)
    with gzip.open(require_shared_file(), "rt", encoding="latin-1", newline="") as fh:
        last_day = [line.rstrip("\r\n") for line in deque(fh, maxlen=LAST_DAY_LINES)]
    customer, country = old["CustomerID"], old["Country"]
    more_of_old_invoice = (
        f"{old['InvoiceNo']},22423,REGENCY CAKESTAND 3 TIER,2,{old['InvoiceDate']},12.75,{customer},{country}"
    )
    late_return = (
        f"C999001,{old['StockCode']},LATE RETURN,-1,12/9/2011 12:50,{old['UnitPrice']},{customer},{country}"
    )
    new_code = f"999002,{NEW_STOCK_CODE},NEW PRODUCT,1,12/9/2011 13:00,1.25,{customer},{country}"
    write_export(target, [HEADER, *last_day, more_of_old_invoice, late_return, new_code])
    return target, old


def _fingerprints(url) -> list[str]:
    module = _fingerprints_module()
    with db.raw_connection(url) as conn:
        # an assigned run's parameters name the run whose model it used (a run id, like run_id itself)
        marts = module.fingerprints(conn, ("marts", "backtest"), ("segmentation_runs.parameters",), digits=6)
        histories = [
            line
            for line in module.fingerprints(
                conn, ("intermediate",), ("int_customer_facts_by_reference_date.reference_date",), digits=6
            )
            if line.split("\t")[0].split(".")[1] in (*INCREMENTAL, FEATURES)
        ]
    assert len(histories) == len(INCREMENTAL) + 1
    return marts + histories


def _execute(url, sql, params=None) -> None:
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        conn.commit()


def _bootstrap_rows(url) -> dict[str, tuple]:
    """backtest_id -> (its row's transaction id: a row kept by a build keeps it; the interval)."""
    rows = _query(
        url,
        """select backtest_id, xmin::text, diff_ci_low, diff_ci_high, verdict
           from intermediate.int_backtest_bootstrap""",
    )
    return {row[0]: (row[1], row[2:]) for row in rows}


def _table_oid(url, name: str) -> int:
    return _query(url, "select %s::regclass::oid", (f"intermediate.{name}",))[0][0]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path, dict]:
    folder = tmp_path_factory.mktemp("incremental")
    history = cut_sample(require_shared_file(), folder / "history.csv.gz", HISTORY_ROWS, every=90)
    delivery, old = _delivery(history, folder / "delivery.csv")
    return history, delivery, old


def test_a_day_built_incrementally_equals_a_full_rebuild(files, make_database, settings_for):
    history, delivery, old = files
    built = {}
    for path in ("incremental", "full"):
        url = make_database(path)
        settings = settings_for(url, bi_role=f"bi_{uuid.uuid4().hex[:8]}", home=settings_for(url).home / path)
        run_cycle(settings, [str(history)])
        first_build = {name: _table_oid(url, name) for name in HISTORIES}
        first_bootstrap = _bootstrap_rows(url)
        plan = CyclePlan.for_run(settings, [str(delivery)], full_refresh=path == "full")
        outcome = run_cycle(settings, plan=plan)
        assert [r.status for r in outcome.loads] == ["loaded"]
        rebuilt = {name for name in HISTORIES if _table_oid(url, name) != first_build[name]}
        built[path] = (url, rebuilt, settings, first_bootstrap)

    url, rebuilt, settings, first_bootstrap = built["incremental"]
    assert rebuilt == set(), "the daily build appends and updates in place, it rebuilds no history"
    assert built["full"][1] == set(HISTORIES), "--full-refresh rebuilds every history"

    # the late lines landed where a full build puts them: the invoice has its line of the second file,
    # the return is on its own day, in its customer's history
    invoice = _query(
        url,
        """select invoices.basket_products, max(lines.file_id) from intermediate.int_customer_invoices as invoices
           inner join intermediate.int_purchase_lines as lines using (customer_id, invoice_id)
           where customer_id = %s and invoice_id = %s group by 1""",
        (old["CustomerID"], old["InvoiceNo"]),
    )
    assert invoice and invoice[0][1] == 2
    returned = _query(
        url,
        """select returned_items from intermediate.int_customer_return_days
           where customer_id = %s and return_date = date '2011-12-09'""",
        (old["CustomerID"],),
    )
    assert returned and returned[0][0] >= 1

    # the first cycle's backtest: its inputs (its ml rows) did not change, so the daily build kept its
    # bootstrap row as it was (same transaction id), and the full rebuild computed the same interval
    assert first_bootstrap, "the history's cycle ran a backtest"
    daily_bootstrap = _bootstrap_rows(url)
    for backtest_id, (xmin, interval) in first_bootstrap.items():
        assert daily_bootstrap[backtest_id] == (xmin, interval)

    incremental, full = _fingerprints(url), _fingerprints(built["full"][0])
    assert len(incremental) > 20
    assert incremental == full

    _a_changed_backtest_is_bootstrapped_again(url, settings)


def _a_changed_backtest_is_bootstrapped_again(url, settings) -> None:
    """One customer's outcome in a backtest changes: the incremental build recomputes that backtest's
    interval (and only it), and gets what a full rebuild of the bootstrap gets."""
    before = _bootstrap_rows(url)
    changed = min(before)
    _execute(
        url,
        """update ml.backtest_customer_predictions set actual_revenue = actual_revenue + 5000
           where backtest_id = %s and customer_id = (
               select min(customer_id) from ml.backtest_customer_predictions
               where backtest_id = %s and not is_insider)""",
        (changed, changed),
    )
    build_vars = {"marts_schema": publish.BUILD_SCHEMA, "backtest_horizon_days": 91}
    select = ["--select", "int_backtest_bootstrap"]
    run_dbt(["run", *select], url, settings, build_vars, quiet=True)
    incremental = _bootstrap_rows(url)
    assert incremental[changed][1] != before[changed][1], "the changed backtest got a new interval"
    assert all(incremental[b] == before[b] for b in before if b != changed), "the others were kept"
    run_dbt(["run", *select, "--full-refresh"], url, settings, build_vars, quiet=True)
    full = _bootstrap_rows(url)
    assert {b: row[1] for b, row in incremental.items()} == {b: row[1] for b, row in full.items()}


def test_the_load_checks_read_the_new_files_and_every_file_on_full_refresh(
    files, make_database, settings_for
):
    """loaded_files_reconcile (and the staged lines' tests) check the files int_transactions_classified
    does not hold yet: a classified file was checked by the build that classified it; --full-refresh
    checks every file again."""
    history, delivery, _ = files
    url = make_database("checks")
    settings = settings_for(url, bi_role=f"bi_{uuid.uuid4().hex[:8]}")
    run_cycle(settings, [str(history)])
    build_vars = {"marts_schema": publish.BUILD_SCHEMA, "backtest_horizon_days": 91}
    check = ["build", "--select", "loaded_files_reconcile"]

    # the classified file's count is off: not read again, so the check passes...
    _execute(url, "update raw.files set rows_loaded = rows_loaded + 1 where file_id = 1")
    run_dbt(check, url, settings, build_vars, quiet=True)
    # ...until a full refresh checks every file
    with pytest.raises(StepFailedError, match="loaded_files_reconcile"):
        run_dbt([*check, "--full-refresh"], url, settings, build_vars, quiet=True)
    _execute(url, "update raw.files set rows_loaded = rows_loaded - 1 where file_id = 1")

    # a new file, not classified yet, whose count is off: checked, caught
    [loaded] = load_sources(url, [str(delivery)], settings)
    _execute(url, "update raw.files set rows_loaded = rows_loaded + 1 where file_id = %s", (loaded.file_id,))
    with pytest.raises(StepFailedError, match="loaded_files_reconcile"):
        run_dbt(check, url, settings, build_vars, quiet=True)


def _features_fingerprints(url) -> list[str]:
    """The histories, the facts, the features and the two features marts (the other marts of one
    database hold every run, so a second cycle changes them)."""
    lines = [line for line in _fingerprints(url) if line.split("\t")[0].endswith(".customer_features")]
    assert len(lines) == 2
    return lines + [line for line in _fingerprints(url) if line.startswith("intermediate.")]


def _stock_codes(url) -> list[tuple]:
    return _query(url, "select * from intermediate.int_stock_codes_classified order by stock_code")


def test_a_failed_build_retried_gives_what_a_full_rebuild_gives(files, make_database, settings_for):
    """The day's build fails after int_stock_codes_classified appended the day's new codes (before
    int_transactions_classified took the file), and after the customer facts were recomputed (before
    the features were built): the retry appends no code twice, recomputes the day's customers, and the
    marts, histories and facts are those of a --full-refresh of the same database."""
    history, delivery, _ = files
    url = make_database("retry")
    settings = settings_for(url, bi_role=f"bi_{uuid.uuid4().hex[:8]}")
    run_cycle(settings, [str(history)])
    build_vars = {"marts_schema": publish.BUILD_SCHEMA, "backtest_horizon_days": 91}
    codes_before = _stock_codes(url)
    assert NEW_STOCK_CODE not in {row[0] for row in codes_before}

    load_sources(url, [str(delivery)], settings)
    run_dbt(["run", "--select", "int_stock_codes_classified"], url, settings, build_vars, quiet=True)
    appended = _stock_codes(url)
    assert NEW_STOCK_CODE in {row[0] for row in appended}
    assert len(appended) > len(codes_before)
    run_dbt(["run", "--select", "int_stock_codes_classified"], url, settings, build_vars, quiet=True)
    assert _stock_codes(url) == appended, "the retry of the failed build appended nothing twice"
    # the next failure: after the histories and the facts, before the features
    facts = ["+int_customer_facts_by_reference_date", "--exclude", "int_stock_codes_classified"]
    run_dbt(["run", "--select", *facts], url, settings, build_vars, quiet=True)

    run_cycle(settings, plan=CyclePlan.for_run(settings, [str(delivery)]))  # the retry: the file is loaded
    assert _stock_codes(url) == appended
    retried = _features_fingerprints(url)
    run_cycle(settings, plan=CyclePlan.for_run(settings, [str(delivery)], full_refresh=True))
    assert _stock_codes(url) == appended
    assert retried == _features_fingerprints(url)


def test_the_features_follow_a_reference_date_that_moves(files, make_database, settings_for):
    """The reference dates move back and forth (var backtest_cutoff): the incremental
    facts recompute the customers with history rows between the old and the new date, keep the
    others, and give the features a --full-refresh gives."""
    history, _, _ = files
    url = make_database("dates")
    settings = settings_for(url, bi_role=f"bi_{uuid.uuid4().hex[:8]}")
    run_cycle(settings, [str(history)])
    select = [
        "--select",
        "int_reference_dates",
        "int_customer_facts_by_reference_date",
        "int_customer_features_by_reference_date",
    ]
    features = f"select * from intermediate.{FEATURES} order by reference_name, customer_id"
    facts = "intermediate.int_customer_facts_by_reference_date"
    # the cutoff moves (var as_of_date would move the current date the same way; the day's delivery
    # moves it in the test above and in the benchmark)
    moves = (
        {"backtest_cutoff": "2011-06-30"},  # back
        {"backtest_cutoff": "2011-06-30"},  # no move
        {"backtest_cutoff": "2011-10-15"},  # forward
        {},  # the default again: the horizon before the current date
    )
    newest = f"select max(computed_at) from {facts}"
    for step, dates in enumerate(moves):
        build_vars = {"marts_schema": publish.BUILD_SCHEMA, "backtest_horizon_days": 91, **dates}
        [(before,)] = _query(url, newest)
        run_dbt(["run", *select], url, settings, build_vars, quiet=True)
        incremental = _query(url, features)
        [(recomputed, total)] = _query(
            url, f"select count(*) filter (where computed_at > %s), count(*) from {facts}", (before,)
        )
        if step == 1:
            assert recomputed == 0, "no date moved, no customer has new lines: nothing recomputed"
        else:
            assert 0 < recomputed < total, "the customers without a row between the dates were kept"
        run_dbt(["run", *select, "--full-refresh"], url, settings, build_vars, quiet=True)
        assert incremental == _query(url, features), dates
        assert total == _query(url, f"select count(*) from {facts}")[0][0]
