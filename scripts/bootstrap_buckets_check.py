"""Does resampling buckets of customers give the backtest's per-customer bootstrap interval?

    python scripts/bootstrap_buckets_check.py [--database insiders_bench] [--buckets 10000] [--seeds 20]

Reads a built database's backtest rows (intermediate.int_backtest_customer_groups and
int_backtest_group_shares, e.g. the bench database after `make bench SCALE=10`) and recomputes the
interval of int_backtest_bootstrap (Insiders' share minus the best baseline's, 1,000 Poisson(1)
replicates, the 25th and 976th sorted differences) in numpy, ``--seeds`` times with fresh random
draws: once resampling each customer, once resampling ``--buckets`` random buckets of customers
(fresh buckets per seed). Prints, per backtest, the mean and spread (standard deviation over the
seeds) of each bound both ways: the bucketed interval agrees when its bounds differ from the
per-customer ones by no more than the bounds' own Monte Carlo spread. Also prints the intervals the
dbt model computed (as built). Prints; asserts nothing.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from insiders import db
from insiders.settings import get_settings

REPLICATES = 1000
LOW_RANK, HIGH_RANK = 25, 976  # 1-based ranks of the sorted differences, as in the model


def read_units(conn) -> pd.DataFrame:
    """One row per backtest and customer drawn (revenue != 0): revenue, Insider, in the best baseline."""
    query = """
        with shares as (
            select backtest_id,
                   max(case when group_name = 'top_past_revenue' then share_of_future_revenue end)
                   >= max(case when group_name = 'top_rfm' then share_of_future_revenue end) as past_wins
            from intermediate.int_backtest_group_shares group by backtest_id)
        select groups.backtest_id, groups.actual_revenue, groups.is_in_insiders,
               case when shares.past_wins then groups.is_in_top_past_revenue else groups.is_in_top_rfm end
                   as is_in_best_baseline
        from intermediate.int_backtest_customer_groups as groups
        inner join shares using (backtest_id)
        where groups.actual_revenue != 0"""
    with conn.cursor() as cur:
        cur.execute(query)
        rows = cur.fetchall()
    return pd.DataFrame(rows, columns=["backtest_id", "revenue", "is_insider", "is_baseline"])


def interval(revenue, insiders, baseline, rng) -> tuple[float, float]:
    """The bounds of one Poisson bootstrap of the share difference over the given units."""
    differences = np.empty(REPLICATES)
    for start in range(0, REPLICATES, 50):  # 50 replicates at a time: bounded memory
        weights = rng.poisson(1.0, size=(min(50, REPLICATES - start), revenue.size))
        total = weights @ revenue
        differences[start : start + len(weights)] = (weights @ insiders - weights @ baseline) / total
    ordered = np.sort(differences)
    return float(ordered[LOW_RANK - 1]), float(ordered[HIGH_RANK - 1])


def compare(units: pd.DataFrame, buckets: int, seeds: int) -> None:
    for backtest_id, rows in units.groupby("backtest_id"):
        revenue = rows["revenue"].to_numpy(dtype=float)
        insiders = np.where(rows["is_insider"], revenue, 0.0)
        baseline = np.where(rows["is_baseline"], revenue, 0.0)
        per_customer, bucketed = [], []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            per_customer.append(interval(revenue, insiders, baseline, rng))
            bucket = rng.integers(0, buckets, size=revenue.size)
            sums = [np.bincount(bucket, weights=v, minlength=buckets) for v in (revenue, insiders, baseline)]
            bucketed.append(interval(*sums, rng))
        print(f"backtest {backtest_id}: {revenue.size:,} customers drawn, {buckets:,} buckets, {seeds} seeds")
        for name, bounds in (("per customer", per_customer), (f"{buckets:,} buckets", bucketed)):
            b = np.array(bounds) * 100
            print(f"  {name:>15}: low {b[:, 0].mean():+.4f} ± {b[:, 0].std(ddof=1):.4f}, "
                  f"high {b[:, 1].mean():+.4f} ± {b[:, 1].std(ddof=1):.4f} points")  # fmt: skip
        gap = (np.array(bucketed).mean(axis=0) - np.array(per_customer).mean(axis=0)) * 100
        spread = np.array(per_customer).std(axis=0, ddof=1) * 100
        print(f"  difference of the means: low {gap[0]:+.4f}, high {gap[1]:+.4f} points "
              f"(per-customer spread {spread[0]:.4f}, {spread[1]:.4f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="insiders_bench")
    parser.add_argument("--buckets", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    url = db.ensure_database_ready(get_settings()).set(database=args.database)
    with db.raw_connection(url) as conn:
        units = read_units(conn)
        with conn.cursor() as cur:
            cur.execute("select * from intermediate.int_backtest_bootstrap order by backtest_id")
            columns = [d[0] for d in cur.description]
            built = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    compare(units, args.buckets, args.seeds)
    for row in built:
        print(f"as built (dbt): {row['backtest_id']}: {100 * row['diff_ci_low']:+.4f} to "
              f"{100 * row['diff_ci_high']:+.4f} points, units {row.get('bootstrap_units')}")  # fmt: skip


if __name__ == "__main__":
    main()
