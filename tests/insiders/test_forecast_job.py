"""The forecast job on a small feature table in a real Postgres."""

from __future__ import annotations

import numpy as np
import pytest

from insiders.errors import UserError
from insiders.forecast_job import _plain, run_forecast


def _simulate(rng, n):
    """Customers from the BG/NBD story: Poisson purchase days while alive, drop out after a purchase."""
    rows = []
    lam = rng.gamma(0.5, 1 / 20.0, n)  # purchase days per day
    p = rng.beta(1.0, 3.0, n)  # dropout probability after each purchase
    age = rng.integers(60, 365, n)
    for i in range(n):
        t, times = 0.0, []
        while True:
            t += rng.exponential(1 / lam[i])
            if t >= age[i]:
                break
            times.append(t)
            if rng.random() < p[i]:
                break
        repeat = len(times)
        spend = float(rng.gamma(4.0, 80.0)) if repeat else None
        rows.append((f"c{i:04d}", "2011-12-10", repeat, int(times[-1]) if times else 0, int(age[i]), spend))
    return rows


def _features(conn, n=400, seed=7):
    rows = _simulate(np.random.default_rng(seed), n)
    # a loyal recent buyer and a lapsed one, same age and spend
    rows += [("loyal", "2011-12-10", 20, 360, 365, 200.0), ("lapsed", "2011-12-10", 20, 60, 365, 200.0)]
    with conn.cursor() as cur:
        cur.execute(
            """create schema marts; create table marts.customer_features (customer_id text, as_of_date date,
               repeat_purchase_days int, active_span_days int, customer_age_days int,
               avg_repeat_day_revenue numeric)"""
        )
        cur.executemany("insert into marts.customer_features values (%s, %s, %s, %s, %s, %s)", rows)
    conn.commit()
    return len(rows)


def _fetch(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args or None)
        return cur.fetchall()


def test_forecast_is_written_per_customer_and_ranks_loyal_above_lapsed(pg_conn):
    n = _features(pg_conn)
    forecast = run_forecast(pg_conn, features_schema="marts", run_id="run-1")
    assert _fetch(pg_conn, "select count(*) from ml.customer_forecasts where run_id = 'run-1'") == [(n,)]
    [(lo, hi, negative)] = _fetch(
        pg_conn,
        "select min(probability_alive), max(probability_alive), count(*) filter (where expected_revenue_90d < 0) "
        "from ml.customer_forecasts",
    )
    assert 0 <= lo <= hi <= 1 and negative == 0
    by_id = dict(_fetch(pg_conn, "select customer_id, expected_purchases_90d from ml.customer_forecasts"))
    assert by_id["loyal"] > 5 * by_id["lapsed"]
    horizons = _fetch(
        pg_conn,
        "select sum(expected_revenue_30d), sum(expected_revenue_90d), sum(expected_revenue_180d) from ml.customer_forecasts",
    )[0]
    assert horizons[0] < horizons[1] < horizons[2]
    assert forecast.bg.r > 0 and forecast.gg.q > 1
    # the same run again replaces its rows instead of duplicating them
    run_forecast(pg_conn, features_schema="marts", run_id="run-1")
    assert _fetch(pg_conn, "select count(*) from ml.customer_forecasts") == [(n,)]


def test_a_missing_feature_table_is_a_clear_error(pg_conn):
    with pytest.raises(UserError, match="cannot read the forecast inputs from nowhere.customer_features"):
        run_forecast(pg_conn, features_schema="nowhere", run_id="x")


def _purchase_lines(conn, n=400, seed=3):
    """A shop's purchase days over a year (dbt's int_purchase_lines shape), customers churning at a
    constant rate, and the features the mart would compute from them as of 2011-12-10."""
    rng = np.random.default_rng(seed)
    start, as_of = np.datetime64("2010-12-10"), np.datetime64("2011-12-10")
    span = int((as_of - start).astype(int))
    lines = []
    for i in range(n):
        first = int(rng.integers(0, span - 10))
        rate, death = rng.gamma(0.8, 1 / 20), first + rng.exponential(150)
        t = float(first)
        while t < min(span, death):
            lines.append((f"c{i:04d}", str(start + int(t)) + " 10:00:00", float(rng.gamma(4.0, 50.0))))
            t += rng.exponential(1 / rate) + 1
    with conn.cursor() as cur:
        cur.execute(
            """create schema intermediate;
               create table intermediate.int_purchase_lines (customer_id text, is_guest boolean,
                   invoiced_at timestamp, revenue numeric);
               create schema marts; create table marts.customer_features as
               select customer_id, date '2011-12-10' as as_of_date, 0 as repeat_purchase_days,
                      0 as active_span_days, 0 as customer_age_days, null::numeric as avg_repeat_day_revenue
               from intermediate.int_purchase_lines"""
        )
        cur.executemany("insert into intermediate.int_purchase_lines values (%s, false, %s, %s)", lines)
        cur.execute("insert into intermediate.int_purchase_lines values (null, true, '2011-06-01', 99)")
        cur.execute(
            """insert into marts.customer_features
               select customer_id, date '2011-12-10', count(distinct cast(invoiced_at as date)) - 1,
                      max(cast(invoiced_at as date)) - min(cast(invoiced_at as date)),
                      date '2011-12-10' - min(cast(invoiced_at as date)),
                      null
               from intermediate.int_purchase_lines where not is_guest group by customer_id"""
        )
        cur.execute(
            "update marts.customer_features set avg_repeat_day_revenue = 50 + abs(hashtext(customer_id)) % 200 "
            "where repeat_purchase_days > 0"
        )
    conn.commit()


def test_the_purchase_model_is_chosen_on_the_holdout_and_its_calibration_is_stored(pg_conn):
    _purchase_lines(pg_conn)
    forecast = run_forecast(pg_conn, features_schema="marts", run_id="run-h")
    [(model, alive_model, cutoff, days)] = _fetch(
        pg_conn, "select purchase_model, alive_model, holdout_cutoff, holdout_days from ml.forecast_fits"
    )
    assert (model, alive_model) == (forecast.purchase_model, forecast.alive_model)
    assert str(cutoff) == "2011-09-11" and days == 90
    scores = _fetch(
        pg_conn, "select model_name, brier_score, is_chosen from ml.forecast_model_scores order by 2"
    )
    assert {s[0] for s in scores} == {"bg_nbd", "pareto_nbd", "logistic"}
    assert scores[0][2] and sum(s[2] for s in scores) == 1  # the lowest Brier score is the one chosen
    [(deciles, customers)] = _fetch(
        pg_conn,
        "select count(*), sum(customers) from ml.forecast_calibration where model_name = %s",
        scores[0][0],
    )
    [(known_at_cutoff,)] = _fetch(
        pg_conn,
        "select count(distinct customer_id) from intermediate.int_purchase_lines "
        "where not is_guest and invoiced_at < '2011-09-11'",
    )
    assert deciles == 10 and customers == known_at_cutoff
    # probabilities: bounded, growing with the horizon, and lower for long-lapsed customers
    rows = _fetch(
        pg_conn,
        """select f.customer_id, c.probability_purchase_30d, c.probability_purchase_90d,
                  c.probability_purchase_180d, f.customer_age_days - f.active_span_days
           from ml.customer_forecasts c join marts.customer_features f using (customer_id)""",
    )
    p30, p90, p180, silence = (np.array([r[i] for r in rows], dtype=float) for i in (1, 2, 3, 4))
    assert np.all((p30 >= 0) & (p180 <= 1)) and np.all(p30 <= p90) and np.all(p90 <= p180)
    assert p90[silence > 200].mean() < p90[silence < 30].mean()


def test_the_revenue_forecast_has_an_interval_and_a_holdout_check(pg_conn):
    _purchase_lines(pg_conn)
    run_forecast(pg_conn, features_schema="marts", run_id="run-i")
    [(name, customers, predicted, low, high, seasonal)] = _fetch(
        pg_conn,
        "select segment_name, customers, predicted_revenue, revenue_low, revenue_high, is_seasonal "
        "from ml.forecast_revenue_intervals",
    )  # no segments in ml for this run: the total only
    [(expected_90d,)] = _fetch(pg_conn, "select sum(expected_revenue_90d) from ml.customer_forecasts")
    assert name == "All customers" and customers > 300 and not seasonal
    assert predicted == pytest.approx(expected_90d) and low < predicted < high
    [(h_predicted, h_low, h_high, h_actual)] = _fetch(
        pg_conn,
        "select holdout_predicted_revenue, holdout_revenue_low, holdout_revenue_high, holdout_actual_revenue "
        "from ml.forecast_fits",
    )
    [(actual,)] = _fetch(
        pg_conn,
        """select sum(revenue) from intermediate.int_purchase_lines
           where invoiced_at >= '2011-09-11' and customer_id in (select customer_id
               from intermediate.int_purchase_lines where invoiced_at < '2011-09-11')""",
    )
    assert h_actual == pytest.approx(float(actual)) and h_low < h_predicted < h_high
    # the same period last year: the 90 days from 2011-12-10 - 365 days
    [(last_year, expected_last_year)] = _fetch(
        pg_conn,
        """select (select same_period_last_year_revenue from ml.forecast_revenue_intervals),
                  (select sum(revenue) from intermediate.int_purchase_lines
                   where not is_guest and invoiced_at >= '2010-12-10' and invoiced_at < '2011-03-10')""",
    )
    assert last_year == pytest.approx(float(expected_last_year))


def test_missing_values_are_written_as_null():
    assert _plain(np.float64("nan")) is None and _plain(float("nan")) is None
    assert _plain(np.int64(3)) == 3 and isinstance(_plain(np.int64(3)), int)


def test_segment_intervals_are_keyed_by_segment_id_and_history_is_written():
    import pandas as pd

    from insiders.forecast_job import INPUT_COLUMNS, NO_SEGMENT, fit_forecast, revenue_intervals

    frame = pd.DataFrame(_simulate(np.random.default_rng(3), 300), columns=list(INPUT_COLUMNS))
    forecast = fit_forecast(frame)
    # two segments by id (ml.segments has no names: dbt gives them); two customers not segmented
    segments = pd.Series({cid: 1 + i % 2 for i, cid in enumerate(frame["customer_id"][:-2])}, dtype=object)
    intervals = revenue_intervals(forecast, frame, segments, days=None).set_index("segment_name")
    assert set(intervals.index) == {"All customers", "segment 1", "segment 2", NO_SEGMENT}
    assert intervals.loc["segment 1", "segment_id"] == 1 and intervals.loc["segment 2", "segment_id"] == 2
    assert pd.isna(intervals.loc["All customers", "segment_id"]) and pd.isna(
        intervals.loc[NO_SEGMENT, "segment_id"]
    )
    assert intervals.loc[NO_SEGMENT, "customers"] == 2
    assert intervals.loc["segment 1", "customers"] + intervals.loc["segment 2", "customers"] == 298
    parts = intervals.drop(index="All customers")["predicted_revenue"].sum()
    assert parts == pytest.approx(intervals.loc["All customers", "predicted_revenue"])
    assert (intervals["history_days"] == frame["customer_age_days"].max()).all()


def test_an_assigned_forecast_applies_the_fitted_runs_models_to_todays_customers(pg_conn):
    """Refit or assign (issue 11): with model_run_id, the fitted forecast of that run is applied (no
    fit): on the same customers it gives the fitted run's rows; on changed customers it moves with them
    under the same parameters; recorded as assigned, with the fitted run's holdout check."""
    _purchase_lines(pg_conn)
    fitted = run_forecast(pg_conn, features_schema="marts", run_id="run-fit")
    assigned = run_forecast(pg_conn, features_schema="marts", run_id="run-a", model_run_id="run-fit")
    assert (assigned.bg, assigned.gg, assigned.pnbd) == (fitted.bg, fitted.gg, fitted.pnbd)
    assert (assigned.purchase_model, assigned.alive_model) == (fitted.purchase_model, fitted.alive_model)
    columns = [c for c in fitted.customers.columns if c != "customer_id"]
    np.testing.assert_allclose(assigned.customers[columns], fitted.customers[columns], rtol=1e-12)
    assert _fetch(pg_conn, "select run_id, fit, model_run_id from ml.forecast_fits order by 1") == [
        ("run-a", "assigned", "run-fit"),
        ("run-fit", "fitted", None),
    ]
    scores = (
        "select model_name, brier_score, is_chosen from ml.forecast_model_scores where run_id = %s order by 1"
    )
    assert _fetch(pg_conn, scores, "run-a") == _fetch(pg_conn, scores, "run-fit")
    calibration = "select count(*), sum(gap) from ml.forecast_calibration where run_id = %s"
    assert _fetch(pg_conn, calibration, "run-a") == _fetch(pg_conn, calibration, "run-fit")

    # a customer who bought again: the same parameters, a new forecast for them
    with pg_conn.cursor() as cur:
        cur.execute(
            """update marts.customer_features set repeat_purchase_days = repeat_purchase_days + 3,
                      active_span_days = customer_age_days, avg_repeat_day_revenue = 120
               where customer_id = 'c0001'"""
        )
    pg_conn.commit()
    later = run_forecast(pg_conn, features_schema="marts", run_id="run-b", model_run_id="run-fit")
    assert later.bg == fitted.bg
    p90 = dict(_fetch(pg_conn, "select run_id, probability_purchase_90d from ml.customer_forecasts "
                                "where customer_id = 'c0001'"))  # fmt: skip
    assert p90["run-b"] > p90["run-fit"]
    # an assigned run is not a model to assign with: its model_run_id finds no fitted forecast, so it fits
    again = run_forecast(pg_conn, features_schema="marts", run_id="run-c", model_run_id="run-a")
    assert _fetch(pg_conn, "select fit from ml.forecast_fits where run_id = 'run-c'") == [("fitted",)]
    assert again.bg != fitted.bg


def test_purchase_days_are_read_whole_and_typed_and_none_before_the_first_purchase(pg_conn):
    """read_purchase_days copies the customer-days as CSV (memory, issue 11): the same rows and types
    as the table holds, and an empty frame (not an error) when nobody bought before as_of_date."""
    from insiders.forecast_job import read_purchase_days

    _purchase_lines(pg_conn)
    with pg_conn.cursor() as cur:
        cur.execute(
            "select customer_id, cast(invoiced_at as date), sum(revenue) from intermediate.int_purchase_lines"
            " where not is_guest group by 1, 2 order by 1, 2"
        )
        expected = cur.fetchall()
    pg_conn.commit()
    days = read_purchase_days(pg_conn, "2100-01-01").sort_values(["customer_id", "purchase_date"])
    got = [(c, d.date(), r) for c, d, r in days.itertuples(index=False)]
    assert got == [(c, d, pytest.approx(float(r))) for c, d, r in expected]
    assert str(days["purchase_date"].dtype).startswith("datetime64") and days["revenue"].dtype == float
    empty = read_purchase_days(pg_conn, "1900-01-01")
    assert empty.empty and set(empty.columns) == {"customer_id", "purchase_date", "revenue"}
