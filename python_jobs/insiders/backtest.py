"""Proof that the Insiders are better: segment as of a past cutoff, then look at what happened.

1. dbt builds ``backtest_customer_features`` (schema ``backtest``, table ``customer_features``): the
   features as of the cutoff, which dbt decides (int_reference_dates) — the cycle's upstream build;
2. the segmentation job segments those customers (a run with purpose ``backtest``);
3. the purchases in the horizon after the cutoff are the truth, from dbt's
   ``int_backtest_future_purchases`` (the features' purchase-day and guest rules, the horizon in
   ``int_reference_dates``): the share of that future revenue (of all customers known at the cutoff)
   captured by
   - the Insiders,
   - a group of the same size taken by past gross revenue,
   - a group of the same size taken by RFM score,
   - the oracle: the same number of customers who really spent most;
4. the revenue forecast fitted at the cutoff is compared with what happened (total and per segment).

Everything is written to ``ml.backtests``, ``ml.backtest_groups`` and ``ml.forecast_validation`` in
one transaction; dbt publishes them as ``marts.backtest_results`` and ``marts.forecast_validation``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pandas as pd
from psycopg2.extras import execute_values
from sqlalchemy.engine import URL

from insiders import db
from insiders.errors import UserError
from insiders.forecast_job import ensure_forecast_schema, fit_forecast, read_lifetime_inputs
from insiders.settings import Settings

log = logging.getLogger(__name__)

BACKTEST_SCHEMA = "backtest"  # where dbt builds backtest_customer_features (as customer_features)
FUTURE_PURCHASES = "intermediate.int_backtest_future_purchases"  # dbt: the horizon's purchases per customer
GROUPS = ("insiders", "top_past_revenue", "top_rfm", "oracle")
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
    groups: pd.DataFrame
    validation: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def insiders_beat_baselines(self) -> bool:
        share = self.groups.set_index("group_name")["share_of_future_revenue"]
        return bool(share["insiders"] > share["top_past_revenue"] and share["insiders"] > share["top_rfm"])

    def summary_text(self) -> str:
        lines = [
            f"backtest {self.backtest_id}: cutoff {self.cutoff}, next {self.horizon_days} days, "
            f"{self.customers_at_cutoff:,} customers known at the cutoff, groups of {self.group_size:,}",
            f"  {'group':<18} {'share of future revenue':>24} {'buyers':>8}",
        ]
        for row in self.groups.itertuples():
            lines.append(f"  {row.group_name:<18} {row.share_of_future_revenue:24.1%} {row.future_buyers:8,}")
        verdict = "beat" if self.insiders_beat_baselines else "did NOT beat"
        lines.append(f"  the Insiders {verdict} both baselines")
        total = self.validation.set_index("segment_name").loc[ALL_CUSTOMERS]
        lines.append(
            f"  forecast of the next {self.horizon_days} days: predicted {total.predicted_revenue:,.0f}, "
            f"actual {total.actual_revenue:,.0f} ({total.revenue_error_pct:+.1%})"
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
        f"""select customer_id, future_revenue::float8 as future_revenue, future_purchase_days
            from {FUTURE_PURCHASES}""",
    )
    frame = features.merge(labels, on="customer_id", how="inner", validate="one_to_one")
    frame = frame.merge(future, on="customer_id", how="left", validate="one_to_one")
    frame[["future_revenue", "future_purchase_days"]] = frame[
        ["future_revenue", "future_purchase_days"]
    ].fillna(0)
    return frame.sort_values("customer_id", ignore_index=True)


def compare_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Share of the future revenue captured by equal-size groups (size = number of Insiders)."""
    n = int(frame["is_insider"].sum())
    total = float(frame["future_revenue"].sum())
    by = {
        "insiders": frame[frame["is_insider"]],
        "top_past_revenue": frame.sort_values(["gross_revenue", "customer_id"], ascending=[False, True]).head(
            n
        ),
        "top_rfm": frame.sort_values(
            ["rfm_score", "gross_revenue", "customer_id"], ascending=[False, False, True]
        ).head(n),
        "oracle": frame.sort_values(["future_revenue", "customer_id"], ascending=[False, True]).head(n),
    }
    rows = []
    for name in GROUPS:
        group = by[name]
        revenue = float(group["future_revenue"].sum())
        rows.append(
            {
                "group_name": name,
                "customers": len(group),
                "future_revenue": revenue,
                "share_of_future_revenue": revenue / total if total else 0.0,
                "future_buyers": int((group["future_revenue"] > 0).sum()),
            }
        )
    return pd.DataFrame(rows)


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


def backtest_horizon(conn) -> tuple[date, int]:
    """(cutoff, horizon in days) as dbt decided them (int_reference_dates)."""
    [(cutoff, end)] = _query(
        conn,
        """select reference_date, horizon_end_date from intermediate.int_reference_dates
           where reference_name = 'backtest_cutoff'""",
    ).itertuples(index=False)
    return cutoff, (end - cutoff).days


def run_backtest(url: URL, settings: Settings, *, seed: int = 42, cycle_run_id=None) -> BacktestResult:
    """Backtest on the cutoff features and horizon the cycle's upstream dbt build made (the cycle runs
    it: `insiders backtest` is a cycle without load and segmentation)."""
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
        forecast = fit_forecast(read_lifetime_inputs(conn, BACKTEST_SCHEMA), horizons=(horizon_days,))
        result = BacktestResult(
            backtest_id=f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}",
            run_id=segmentation.run_id,
            cutoff=cutoff,
            horizon_days=horizon_days,
            customers_at_cutoff=len(frame),
            group_size=int(frame["is_insider"].sum()),
            future_revenue=float(frame["future_revenue"].sum()),
            groups=compare_groups(frame),
            validation=validate_forecast(frame, forecast.customers, horizon_days),
        )
        try:
            _write(conn, result, cycle_run_id)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    log.info("%s", result.summary_text())
    return result


def _none_for_nan(value):
    return None if isinstance(value, float) and value != value else value


def _write(conn, result: BacktestResult, cycle_run_id) -> None:
    with conn.cursor() as cur:
        cur.execute(
            """insert into ml.backtests (backtest_id, run_id, cycle_run_id, cutoff_date, horizon_days,
                   customers_at_cutoff, group_size, future_revenue, insiders_beat_baselines)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                result.backtest_id, result.run_id, cycle_run_id, result.cutoff, result.horizon_days,
                result.customers_at_cutoff, result.group_size, result.future_revenue,
                result.insiders_beat_baselines,
            ),
        )  # fmt: skip
        execute_values(
            cur,
            """insert into ml.backtest_groups (backtest_id, group_name, customers, future_revenue,
                   share_of_future_revenue, future_buyers) values %s""",
            [(result.backtest_id, *r) for r in result.groups.astype(object).itertuples(index=False)],
        )
        columns = list(result.validation.columns)
        execute_values(
            cur,
            f"insert into ml.forecast_validation (backtest_id, {', '.join(columns)}) values %s",
            [(result.backtest_id, *map(_none_for_nan, r)) for r in result.validation.itertuples(index=False)],
        )
