"""The forecast job on a small feature table in a real Postgres."""

from __future__ import annotations

import numpy as np
import pytest

from insiders.errors import UserError
from insiders.forecast_job import run_forecast


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
