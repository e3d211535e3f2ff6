"""Proof that the Insiders are better: segment as of a past cutoff, then look at what happened.

1. dbt builds ``backtest_customer_features`` (schema ``backtest``, table ``customer_features``): the
   features as of the cutoff, which dbt decides (int_reference_dates) — the cycle's upstream build;
2. the segmentation job segments those customers (a run with purpose ``backtest``) and the forecast is
   fitted on them;
3. one row per customer known at the cutoff goes to ``ml.backtest_customer_predictions``: segment,
   past gross revenue and RFM score at the cutoff, the forecast of the horizon, and what happened in it
   (dbt's ``int_backtest_future_purchases``: purchase days, revenue net of the returns in the horizon);
4. dbt owns everything computed from those rows: the equal-size groups by rank (Insiders, past gross
   revenue, RFM score, oracle), their shares of the horizon's revenue, the bootstrap interval of the
   Insiders' difference to the best baseline and the verdict worded from it
   (``marts.backtest_results``), the per-customer audit (``marts.backtest_customer_predictions``) and
   the calibration at the cutoffs (``marts.forecast_backtest_calibration``);
5. the revenue forecast is compared with what happened (total and per segment, ``ml.forecast_validation``).

Everything is written in one transaction. ``summary_text`` words the result from the published
``marts.backtest_results`` (the verdict dbt decided), so it is read after the cycle's publish.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from psycopg2.extras import execute_values
from sqlalchemy.engine import URL
from threadpoolctl import threadpool_limits

from insiders import db, holdout
from insiders.errors import UserError
from insiders.forecast_job import ensure_forecast_schema, fit_forecast, read_lifetime_inputs
from insiders.settings import Settings

log = logging.getLogger(__name__)

BACKTEST_SCHEMA = "backtest"  # where dbt builds backtest_customer_features (as customer_features)
FUTURE_PURCHASES = "intermediate.int_backtest_future_purchases"  # dbt: the horizon's purchases per customer
ALL_CUSTOMERS = "All customers"


@dataclass
class BacktestResult:
    backtest_id: str
    run_id: str
    cutoff: date
    horizon_days: int
    customers_at_cutoff: int
    group_size: int
    future_revenue: float
    customers: pd.DataFrame  # one row per customer: ml.backtest_customer_predictions
    validation: pd.DataFrame
    url: URL | None = None  # where summary_text reads the published result
    timings: dict[str, float] = field(default_factory=dict)

    def summary_text(self, schema: str = "marts") -> str:
        """The published result (dbt's groups, interval and verdict) in words."""
        if self.url is None:
            return format_summary(self, None)
        with db.raw_connection(self.url) as conn:
            return format_summary(self, read_published_groups(conn, self.backtest_id, schema))


def read_published_groups(conn, backtest_id: str, schema: str = "marts") -> pd.DataFrame | None:
    """The backtest's rows of marts.backtest_results; None before they are published."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null", (f"{schema}.backtest_results",))
        if not cur.fetchone()[0]:
            conn.commit()
            return None
    frame = _query(
        conn,
        f"""select group_name, share_of_future_revenue, future_buyers, best_baseline,
                   difference_to_best_baseline, diff_ci_low, diff_ci_high, verdict,
                   verdict_sentence
            from {schema}.backtest_results where backtest_id = %s
            order by case group_name when 'insiders' then 1 when 'top_past_revenue' then 2
                     when 'top_rfm' then 3 else 4 end""",
        (backtest_id,),
    )
    return frame if len(frame) else None


def format_summary(result: BacktestResult, groups: pd.DataFrame | None) -> str:
    lines = [
        f"backtest {result.backtest_id}: cutoff {result.cutoff}, next {result.horizon_days} days, "
        f"{result.customers_at_cutoff:,} customers known at the cutoff, groups of {result.group_size:,}",
    ]
    if groups is None:
        lines.append("  the groups and the verdict are computed by dbt: see marts.backtest_results")
    else:
        lines.append(f"  {'group':<18} {'share of future revenue':>24} {'buyers':>8}")
        for row in groups.itertuples():
            lines.append(f"  {row.group_name:<18} {row.share_of_future_revenue:24.1%} {row.future_buyers:8,}")
        first = groups.iloc[0]
        if first["verdict"] is not None and not pd.isna(first["diff_ci_low"]):
            lines.append(
                f"  {first['verdict_sentence']}: {first['difference_to_best_baseline'] * 100:+.1f} points vs "
                f"{first['best_baseline']}, 95% interval {first['diff_ci_low'] * 100:+.1f} to "
                f"{first['diff_ci_high'] * 100:+.1f}"
            )
    total = result.validation.set_index("segment_name").loc[ALL_CUSTOMERS]
    error = "n/a" if pd.isna(total.revenue_error_pct) else f"{total.revenue_error_pct:+.1%}"
    lines.append(
        f"  forecast of the next {result.horizon_days} days: predicted {total.predicted_revenue:,.0f}, "
        f"actual (net of returns) {total.actual_revenue:,.0f} ({error})"
    )
    return "\n".join(lines)


def cutoff_features_summary(conn) -> tuple[date | None, int]:
    """(cutoff, customers) of the backtest features dbt built last."""
    with conn.cursor() as cur:
        cur.execute(f"select to_regclass('{BACKTEST_SCHEMA}.customer_features') is not null")
        if not cur.fetchone()[0]:
            conn.commit()
            return None, 0
        cur.execute(f"select min(as_of_date), count(*) from {BACKTEST_SCHEMA}.customer_features")
        cutoff, customers = cur.fetchone()
    conn.commit()
    return cutoff, customers


def _query(conn, statement: str, params=None) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(statement, params)
        frame = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    conn.commit()
    return frame


def read_backtest_frame(conn, run_id: str) -> pd.DataFrame:
    """One row per customer known at the cutoff: features then, segment then, purchases after."""
    features = _query(
        conn,
        f"""select customer_id, gross_revenue::float8 as gross_revenue, rfm_score, r_score, f_score, m_score
            from {BACKTEST_SCHEMA}.customer_features""",
    )
    labels = _query(
        conn,
        """select cs.customer_id, s.archetype as segment_name, s.is_insider
           from ml.customer_segments cs
           join ml.segments s on s.run_id = cs.run_id and s.segment_id = cs.segment_id
           where cs.run_id = %s""",
        (run_id,),
    )
    future = _query(
        conn,
        f"""select customer_id, future_net_revenue::float8 as future_revenue, future_purchase_days
            from {FUTURE_PURCHASES}""",
    )
    return backtest_frame(features, labels, future)


def backtest_frame(features: pd.DataFrame, labels: pd.DataFrame, future: pd.DataFrame) -> pd.DataFrame:
    """The customers known at the cutoff (features) that the backtest run segmented (labels), with
    their purchases in the horizon (none: 0); one row per customer, by customer_id."""
    frame = features.merge(labels, on="customer_id", how="inner", validate="one_to_one")
    frame = frame.merge(future, on="customer_id", how="left", validate="one_to_one")
    frame[["future_revenue", "future_purchase_days"]] = frame[
        ["future_revenue", "future_purchase_days"]
    ].fillna(0)
    return frame.sort_values("customer_id", ignore_index=True)


def customer_rows(frame: pd.DataFrame, predicted: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """ml.backtest_customer_predictions: what the backtest saw at the cutoff and what happened after."""
    data = frame.merge(predicted, on="customer_id", how="left", validate="one_to_one")
    out = pd.DataFrame(
        {
            "customer_id": data["customer_id"],
            "segment_name": data["segment_name"],
            "is_insider": data["is_insider"].astype(bool),
            "past_gross_revenue": data["gross_revenue"].astype(float),
            "rfm_score": data["rfm_score"].astype(int),
            "probability_purchase": data[f"probability_purchase_{horizon_days}d"].astype(float),
            "expected_purchases": data[f"expected_purchases_{horizon_days}d"].astype(float),
            "expected_revenue": data[f"expected_revenue_{horizon_days}d"].astype(float),
            "actual_purchases": data["future_purchase_days"].astype(int),
            "actual_revenue": data["future_revenue"].astype(float),
        }
    )
    return out.fillna({"probability_purchase": 0.0, "expected_purchases": 0.0, "expected_revenue": 0.0})


def validate_forecast(frame: pd.DataFrame, predicted: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    data = frame.merge(predicted, on="customer_id", how="left", validate="one_to_one")
    revenue, purchases = f"expected_revenue_{horizon_days}d", f"expected_purchases_{horizon_days}d"
    rows = []
    for name, part in [(ALL_CUSTOMERS, data), *sorted(data.groupby("segment_name"))]:
        predicted_revenue, actual = float(part[revenue].sum()), float(part["future_revenue"].sum())
        rows.append(
            {
                "segment_name": name,
                "customers": len(part),
                "predicted_revenue": predicted_revenue,
                "actual_revenue": actual,
                "predicted_purchases": float(part[purchases].sum()),
                "actual_purchases": float(part["future_purchase_days"].sum()),
                "revenue_error": predicted_revenue - actual,
                "revenue_error_pct": (predicted_revenue - actual) / actual if actual else None,
            }
        )
    return pd.DataFrame(rows)


def model_interval(forecast, lifetime: pd.DataFrame, horizon_days: int) -> tuple[float, float]:
    """The total revenue's 95% interval from the customers' own randomness (forecast_job's simulation;
    the purchase chance is the alive model's 90-day one). dbt widens it by the errors of earlier
    backtests (forecast_validation)."""
    customers = forecast.customers
    sims = holdout.simulate_revenue(
        forecast.alive_model_probability,
        customers[f"expected_purchases_{horizon_days}d"].to_numpy(),
        lifetime["repeat_purchase_days"].astype(float).to_numpy(),
        lifetime["avg_repeat_day_revenue"].astype(float).fillna(0.0).to_numpy(),
        forecast.gg,
    )
    predicted = float(customers[f"expected_revenue_{horizon_days}d"].sum())
    interval = holdout.revenue_interval(sims[holdout.ALL_CUSTOMERS].to_numpy(), predicted)
    return interval.low, interval.high


def backtest_horizon(conn) -> tuple[date, int]:
    """(cutoff, horizon in days) as dbt decided them (int_reference_dates)."""
    [(cutoff, end)] = _query(
        conn,
        """select reference_date, horizon_end_date from intermediate.int_reference_dates
           where reference_name = 'backtest_cutoff'""",
    ).itertuples(index=False)
    return cutoff, (end - cutoff).days


def compute_backtest(
    frame: pd.DataFrame, lifetime: pd.DataFrame, run_id: str, cutoff: date, horizon_days: int
) -> BacktestResult:
    """The backtest's rows from what it read (``backtest_frame``, the lifetime inputs at the cutoff):
    the forecast fitted then, its interval, the per-customer rows and the forecast validation."""
    with threadpool_limits(limits=1):  # one BLAS thread, as the segmentation (README "Performance")
        forecast = fit_forecast(lifetime, horizons=(horizon_days,))
        low, high = model_interval(forecast, lifetime, horizon_days)
    validation = validate_forecast(frame, forecast.customers, horizon_days)
    is_total = validation["segment_name"] == ALL_CUSTOMERS
    validation["predicted_revenue_low"] = np.where(is_total, low, np.nan)
    validation["predicted_revenue_high"] = np.where(is_total, high, np.nan)
    return BacktestResult(
        backtest_id=f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}",
        run_id=run_id,
        cutoff=cutoff,
        horizon_days=horizon_days,
        customers_at_cutoff=len(frame),
        group_size=int(frame["is_insider"].sum()),
        future_revenue=float(frame["future_revenue"].sum()),
        customers=customer_rows(frame, forecast.customers, horizon_days),
        validation=validation,
    )


def backtest_row(result: BacktestResult, cycle_run_id) -> dict:
    """The backtest's ml.backtests row (created_at: the database's default on Postgres)."""
    return {
        "backtest_id": result.backtest_id, "run_id": result.run_id, "cycle_run_id": cycle_run_id,
        "cutoff_date": result.cutoff, "horizon_days": result.horizon_days,
        "customers_at_cutoff": result.customers_at_cutoff, "group_size": result.group_size,
        "future_revenue": result.future_revenue,
    }  # fmt: skip


def run_backtest(url: URL, settings: Settings, *, seed: int = 42, cycle_run_id=None) -> BacktestResult:
    """Backtest on the cutoff features and horizon the cycle's upstream dbt build made (the cycle runs
    it: `insiders backtest` is a cycle without load and segmentation)."""
    result = fit_backtest(url, settings, seed=seed)
    write_backtest(url, result, cycle_run_id)
    return result


def fit_backtest(url: URL, settings: Settings, *, seed: int = 42) -> BacktestResult:
    """Everything of the backtest but its ml.backtests rows: its own segmentation (written as a run of
    purpose 'backtest', as every segmentation is) and the forecast at the cutoff. The cycle runs it
    beside the cycle's own segmentation and forecast, in a child process (insiders.cycle)."""
    from insiders.segment import run_segmentation

    with db.raw_connection(url) as conn:
        cutoff, _ = cutoff_features_summary(conn)
        if cutoff is None:
            raise UserError("no backtest features: run `insiders run` or `insiders backtest` first")
        cutoff, horizon_days = backtest_horizon(conn)
    engine = db.make_engine(url)
    try:
        segmentation = run_segmentation(
            engine, settings, features_schema=BACKTEST_SCHEMA, seed=seed, purpose="backtest"
        )
    finally:
        engine.dispose()
    with db.raw_connection(url) as conn:
        ensure_forecast_schema(conn)
        frame = read_backtest_frame(conn, segmentation.run_id)
        lifetime = read_lifetime_inputs(conn, BACKTEST_SCHEMA)
        conn.rollback()
    result = compute_backtest(frame, lifetime, segmentation.run_id, cutoff, horizon_days)
    result.url = url
    return result


def write_backtest(url: URL, result: BacktestResult, cycle_run_id) -> None:
    """The backtest's ml rows, in one transaction: all of them or none."""
    with db.raw_connection(url) as conn:
        try:
            _write(conn, result, cycle_run_id)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    log.info(
        "backtest %s: cutoff %s, %d customers, %d Insiders; groups and verdict follow in dbt",
        result.backtest_id, result.cutoff, result.customers_at_cutoff, result.group_size,
    )  # fmt: skip


def _none_for_nan(value):
    return None if isinstance(value, float) and value != value else value


def _write(conn, result: BacktestResult, cycle_run_id) -> None:
    with conn.cursor() as cur:
        cur.execute(
            """insert into ml.backtests (backtest_id, run_id, cycle_run_id, cutoff_date, horizon_days,
                   customers_at_cutoff, group_size, future_revenue)
               values (%s, %s, %s, %s, %s, %s, %s, %s)""",
            tuple(backtest_row(result, cycle_run_id).values()),
        )
        customer_columns = list(result.customers.columns)
        execute_values(
            cur,
            f"""insert into ml.backtest_customer_predictions (backtest_id, {", ".join(customer_columns)})
                values %s""",
            [(result.backtest_id, *r) for r in result.customers.astype(object).itertuples(index=False)],
            page_size=1000,
        )
        columns = list(result.validation.columns)
        execute_values(
            cur,
            f"insert into ml.forecast_validation (backtest_id, {', '.join(columns)}) values %s",
            [(result.backtest_id, *map(_none_for_nan, r)) for r in result.validation.itertuples(index=False)],
        )
