"""Refit only when needed (issue 11): a cycle whose inputs did not change assigns customers with the
last fitted model and keeps the last backtest; past the schedule it fits again. Same marts either way."""

from __future__ import annotations

import uuid

import pytest

from insiders import db
from insiders.cycle import CyclePlan, run_cycle
from tests.insiders.test_cycle import sample  # noqa: F401  (the module's sample fixture)

# run ids, timestamps and the run history differ between cycles by design; everything else may not
HISTORY_MARTS = {"segmentation_runs"}
VARYING = ("run_id", "backtest_id", "job_run_id", "seconds")


def _query(url, statement, params=()):
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


def _marts(url) -> dict[str, list]:
    """Every mart, without the columns that carry run ids or timestamps, as sorted rows."""
    columns = _query(
        url,
        """select table_name, column_name, data_type from information_schema.columns
           where table_schema = 'marts' order by table_name, ordinal_position""",
    )
    keep: dict[str, list[str]] = {}
    numeric: set[tuple[str, str]] = set()
    for table, column, data_type in columns:
        if table in HISTORY_MARTS or column.endswith(VARYING) or column.endswith("_at"):
            continue
        if "timestamp" in data_type or column in ("model_run_id", "previous_run_id", "cycle_run_id"):
            continue
        keep.setdefault(table, []).append(column)
        if data_type in ("double precision", "numeric", "real"):
            numeric.add((table, column))
    out = {}
    for table, cols in keep.items():
        # a history mart (rows per run or backtest): the rows the marts show
        flags = [f for f in ("is_current", "is_latest") if f in cols]
        latest = f" where {' and '.join(flags)}" if flags else ""
        # numbers to 10 significant digits: an average summed in another row order differs in the last bits
        select = ", ".join(
            f"to_char({c}::float8, '9.999999999EEEE')" if (table, c) in numeric else f"{c}::text"
            for c in cols
        )
        rows = _query(url, f"select {select} from marts.{table}{latest}")
        out[table] = (cols, sorted(rows, key=repr))
    return out


def _differing_columns(a, b) -> list[str]:
    cols, rows_a = a
    _, rows_b = b
    if len(rows_a) != len(rows_b):
        return [f"{len(rows_a)} rows against {len(rows_b)}"]
    return [c for i, c in enumerate(cols) if [r[i] for r in rows_a] != [r[i] for r in rows_b]]


def _runs(url):
    return _query(
        url,
        """select purpose, parameters ->> 'fit', parameters ->> 'model_run_id', parameters ->> 'refit_reason'
           from ml.segmentation_runs where status = 'succeeded' order by finished_at, run_id""",
    )


@pytest.fixture
def refit_db(make_database, settings_for):
    url = make_database("refit")
    return url, settings_for(url, bi_role=f"bi_{uuid.uuid4().hex[:8]}", refit_every_days=7)


def test_unchanged_inputs_assign_with_the_model_and_past_the_schedule_it_refits(refit_db, sample):  # noqa: F811
    url, settings = refit_db
    plan = CyclePlan.for_run(settings, [str(sample)])
    first = run_cycle(settings, [str(sample)], plan=plan)
    assert first.backtest is not None
    fitted = first.segmentation.run_id

    second = run_cycle(settings, [str(sample)], plan=plan)  # the same file: skipped, nothing changed
    assert second.segmentation.parameters["fit"] == "assigned"
    assert second.segmentation.parameters["model_run_id"] == fitted
    assert second.backtest is None  # kept: its inputs did not change either
    forecast_fit = "select fit, model_run_id from ml.forecast_fits where run_id = %s"
    # the forecast follows the segmentation: the fitted run's forecast applied, no new fit
    assert _query(url, forecast_fit, (second.segmentation.run_id,)) == [("assigned", fitted)]
    assert [r[:2] for r in _runs(url)] == [("cycle", "fitted"), ("backtest", "fitted"), ("cycle", "assigned")]
    assert _query(url, "select count(*) from marts.backtest_results where is_latest") != [(0,)]
    assigned_marts = _marts(url)
    current = _query(url, "select run_id, is_current from marts.segmentation_runs where is_current")
    assert current == [(second.segmentation.run_id, True)]

    # past the schedule: the fitted runs' features are as of 8 days before today's
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute("update ml.segmentation_runs set as_of_date = as_of_date - 8")
        conn.commit()
    third = run_cycle(settings, [str(sample)], plan=plan)
    assert third.segmentation.parameters["fit"] == "fitted"
    assert "8 days old" in third.segmentation.parameters["refit_reason"]
    assert third.backtest is not None  # the backtest is past its schedule too
    assert _query(url, forecast_fit, (third.segmentation.run_id,)) == [("fitted", None)]
    refitted_marts = _marts(url)

    assert assigned_marts.keys() == refitted_marts.keys()
    assert len(assigned_marts) > 10 and sum(len(rows) for _, rows in assigned_marts.values()) > 1000
    differing = {
        table: _differing_columns(assigned_marts[table], refitted_marts[table])
        for table in assigned_marts
        if assigned_marts[table] != refitted_marts[table]
    }
    assert differing == {}


def test_a_changed_share_above_the_threshold_refits(refit_db, sample):  # noqa: F811
    url, settings = refit_db
    plan = CyclePlan.for_run(settings, [str(sample)])
    run_cycle(settings, [str(sample)], plan=plan)
    customers = _query(url, "select count(*) from marts.customer_features")[0][0]
    # what the fit saw of a tenth of the customers differs from today's features
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute(
            """update ml.customer_segments set features = jsonb_set(features, '{purchases}', '0')
               where customer_id in (select customer_id from ml.customer_segments
                                     order by customer_id limit %s)""",
            (customers // 5,),
        )
        conn.commit()
    again = run_cycle(settings, [str(sample)], plan=plan)
    assert again.segmentation.parameters["fit"] == "fitted"
    assert "of customers new or changed" in again.segmentation.parameters["refit_reason"]


def test_a_backtest_fit_whose_rows_were_never_written_is_not_kept(refit_db, sample):  # noqa: F811
    """The backtest's fit runs beside the cycle's forecast (insiders.alongside) and commits its own
    segmentation run before the cycle writes the backtest: a cycle that fails or dies in between leaves
    a fitted backtest run with no ml.backtests row. The next cycle must fit again, not keep nothing."""
    url, settings = refit_db
    plan = CyclePlan.for_run(settings, [str(sample)])
    first = run_cycle(settings, [str(sample)], plan=plan)
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute("delete from ml.backtests where backtest_id = %s", (first.backtest.backtest_id,))
        conn.commit()
    second = run_cycle(settings, [str(sample)], plan=plan)  # nothing else changed
    assert second.segmentation.parameters["fit"] == "assigned"
    assert second.backtest is not None  # fitted again: its first fit has no backtest standing on it
    assert _query(url, "select count(*) from marts.backtest_results where is_latest") != [(0,)]
