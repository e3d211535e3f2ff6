"""What the report reads: one function per question, each a query on a psycopg2 connection that returns a
DataFrame (empty, with the expected columns, when its table does not exist yet).

Everything comes from the published marts (``schema``), except the model-selection candidates, which
only the ML schema holds (``ml_schema``: the report is internal, not a Metabase card).
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
from psycopg2 import extensions
from psycopg2 import sql as pgsql

from insiders.errors import UserError
from insiders.segment.features import FEATURES

SEGMENT_COLUMNS = (
    "segment_id", "segment_name", "is_insider", "customers", "share_of_customers", "gross_revenue",
    "share_of_revenue", "median_gross_revenue", "median_recency_days", "median_purchases",
    "median_order_value", "returns_rate", "goal", "recommended_action", "channel",
)  # fmt: skip
CUSTOMER_COLUMNS = ("customer_id", "segment_id", "segment_name", "is_insider", *FEATURES)
RULE_COLUMNS = (
    "rule_id",
    "rule_text",
    "predicts_insider",
    "customers_matched",
    "rule_precision",
    "rule_recall",
)
FORECAST_COLUMNS = (
    "segment_id", "segment_name", "is_insider", "customers", "mean_probability_alive",
    "mean_probability_purchase_90d", "expected_revenue_30d", "expected_revenue_90d", "expected_revenue_180d",
    "share_of_expected_revenue_90d",
)  # fmt: skip
VALIDATION_COLUMNS = (
    "backtest_id", "cutoff_date", "horizon_days", "segment_name", "customers", "predicted_revenue",
    "actual_revenue", "revenue_error", "revenue_error_pct", "predicted_purchases", "actual_purchases",
)  # fmt: skip
BACKTEST_COLUMNS = (
    "backtest_id", "cutoff_date", "horizon_days", "customers_at_cutoff", "group_size",
    "insiders_beat_baselines", "group_name", "group_label", "customers", "future_revenue",
    "share_of_future_revenue", "future_buyers", "best_baseline", "difference_to_best_baseline",
    "diff_ci_low", "diff_ci_high", "verdict", "verdict_sentence",
)  # fmt: skip
NEXT_STEPS_COLUMNS = (
    "customer_id", "segment_name", "nearest_rule_text", "unmet_conditions", "revenue_gap", "orders_gap",
    "missing", "recommended_action",
)  # fmt: skip
RUN_COLUMNS = (
    "run_id", "purpose", "status", "started_at", "finished_at", "as_of_date", "code_version", "algorithm",
    "chosen_k", "n_customers", "silhouette", "davies_bouldin", "calinski_harabasz", "inertia", "bic",
    "insiders_share", "insiders_revenue_share", "previous_run_id", "adjusted_rand_index",
    "customers_compared", "rules_fidelity", "random_seed", "features", "parameters",
)  # fmt: skip
CANDIDATE_COLUMNS = (
    "algorithm", "k", "n_segments", "silhouette", "davies_bouldin", "calinski_harabasz", "bic",
    "smallest_share", "insiders_share", "insiders_revenue_share", "selection_tier", "is_chosen",
)  # fmt: skip
FLOW_COLUMNS = ("previous_run_id", "from_segment", "to_segment", "change_type", "customers")
CHANGE_COLUMNS = (
    "change_type",
    "from_segment",
    "to_segment",
    "customers",
    "insider_entries",
    "insider_exits",
)


@dataclass
class ReportData:
    """Everything one report shows, for one segmentation run."""

    run_id: str
    run: dict  # the run's row of segmentation_runs ({} when it is not there)
    segments: pd.DataFrame
    customers: pd.DataFrame
    rules: pd.DataFrame
    forecasts: pd.DataFrame
    validation: pd.DataFrame
    backtest: pd.DataFrame
    candidates: pd.DataFrame
    flows: pd.DataFrame
    changes: pd.DataFrame
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # How sure the figures are (report/trust.py reads them)
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    uplift: pd.DataFrame = field(default_factory=pd.DataFrame)
    intervals: pd.DataFrame = field(default_factory=pd.DataFrame)
    backtest_calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    interval_coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    next_steps: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(NEXT_STEPS_COLUMNS)))

    @property
    def previous_run_id(self) -> str | None:
        previous = self.run.get("previous_run_id")
        if isinstance(previous, str) and previous:
            return previous
        # a first run's flows have no previous run (all its customers "entered")
        known = self.flows["previous_run_id"].dropna() if not self.flows.empty else self.flows
        return str(known.iloc[0]) if len(known) else None


# --------------------------------------------------------------------------------------------- helpers
def table_exists(conn, schema: str, table: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null", (pgsql.Identifier(schema, table).as_string(conn),))
        return bool(cur.fetchone()[0])


def _as_float(value):
    return float(value) if isinstance(value, decimal.Decimal) else value


def query_frame(conn, query, params=None, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Rows of a query as a DataFrame; numeric (Decimal) values become floats."""
    with conn.cursor() as cur:
        cur.execute(query, params)
        names = [d.name for d in cur.description]
        rows = [tuple(_as_float(v) for v in row) for row in cur.fetchall()]
    frame = pd.DataFrame(rows, columns=names)
    return frame if columns is None else frame.reindex(columns=list(columns))


def _select(
    conn,
    schema: str,
    table: str,
    columns: tuple[str, ...],
    *,
    where: str = "true",
    params=None,
    order_by: str = "1",
) -> pd.DataFrame:
    """``select <columns> from schema.table where ... order by ...``; empty when the table is missing."""
    if not table_exists(conn, schema, table):
        return pd.DataFrame(columns=list(columns))
    query = pgsql.SQL("select {cols} from {table} where {where} order by {order}").format(
        cols=pgsql.SQL(", ").join(map(pgsql.Identifier, columns)),
        table=pgsql.Identifier(schema, table),
        where=pgsql.SQL(where),
        order=pgsql.SQL(order_by),
    )
    return query_frame(conn, query, params, columns)


# ------------------------------------------------------------------------------------------- queries
def current_run_id(conn, schema: str = "marts") -> str:
    """The run the published marts show: segmentation_runs.is_current (dbt decides it)."""
    runs = _select(conn, schema, "segmentation_runs", ("run_id",), where="is_current")
    if runs.empty:
        raise UserError(
            f"no current segmentation run in {schema}.segmentation_runs: run `insiders run` first"
        )
    return str(runs["run_id"].iloc[0])


def segmentation_run(conn, run_id: str, schema: str = "marts") -> dict:
    """The run's row of segmentation_runs (metrics, parameters), or {} when it is missing."""
    frame = _select(conn, schema, "segmentation_runs", RUN_COLUMNS, where="run_id = %s", params=(run_id,))
    return {} if frame.empty else frame.iloc[0].to_dict()


def segment_summary(conn, schema: str = "marts") -> pd.DataFrame:
    """One row per segment: size, revenue, shares, medians and the playbook's action."""
    return _select(conn, schema, "segment_summary", SEGMENT_COLUMNS, order_by="segment_id")


def customer_segments(conn, schema: str = "marts") -> pd.DataFrame:
    """One row per customer: segment and the clustering features, sorted by customer_id."""
    frame = _select(conn, schema, "customer_segments", CUSTOMER_COLUMNS, order_by="customer_id")
    for col in FEATURES:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


def insider_rules(conn, schema: str = "marts") -> pd.DataFrame:
    """The decision-tree rules that reproduce Insiders membership, entry rules first."""
    return _select(
        conn, schema, "insider_rules", RULE_COLUMNS, order_by="predicts_insider desc, customers_matched desc"
    )


def segment_forecasts(conn, schema: str = "marts") -> pd.DataFrame:
    return _select(conn, schema, "segment_forecasts", FORECAST_COLUMNS, order_by="expected_revenue_90d desc")


def latest_forecast_validation(conn, schema: str = "marts") -> pd.DataFrame:
    """The latest backtest's predicted vs actual revenue per segment ("All customers" last)."""
    return _select(
        conn,
        schema,
        "forecast_validation",
        VALIDATION_COLUMNS,
        where="is_latest",
        order_by="segment_name = 'All customers', actual_revenue desc",
    )


def latest_backtest(conn, schema: str = "marts") -> pd.DataFrame:
    """The latest backtest: share of the next N days' revenue captured by each selection group."""
    order = "case group_name when 'insiders' then 0 when 'oracle' then 9 else 1 end, group_name"
    return _select(conn, schema, "backtest_results", BACKTEST_COLUMNS, where="is_latest", order_by=order)


def segmentation_candidates(conn, run_id: str, ml_schema: str = "ml") -> pd.DataFrame:
    """Every (algorithm, k) the run scored, with the selection tier and the chosen one."""
    return _select(
        conn,
        ml_schema,
        "segmentation_candidates",
        CANDIDATE_COLUMNS,
        where="run_id = %s",
        params=(run_id,),
        order_by="algorithm, k",
    )


def segment_flows(conn, schema: str = "marts") -> pd.DataFrame:
    """Customers of the current run per (previous segment, segment) pair; empty for a first run."""
    return _select(
        conn, schema, "segment_flows", FLOW_COLUMNS, where="is_current", order_by="from_segment, to_segment"
    )


def membership_changes(conn, schema: str = "marts") -> pd.DataFrame:
    """Customers who entered, left or moved in the current run, counted per (change type, from, to)."""
    if not table_exists(conn, schema, "segment_membership_changes"):
        return pd.DataFrame(columns=list(CHANGE_COLUMNS))
    query = pgsql.SQL(
        "select change_type, coalesce(from_segment, '(not a customer yet)') as from_segment,"
        " coalesce(to_segment, '(gone)') as to_segment, count(*) as customers,"
        " count(*) filter (where is_insider_entry) as insider_entries,"
        " count(*) filter (where is_insider_exit) as insider_exits"
        " from {table} where is_current group by 1, 2, 3 order by customers desc, 1, 2, 3"
    ).format(table=pgsql.Identifier(schema, "segment_membership_changes"))
    return query_frame(conn, query, None, CHANGE_COLUMNS)


def load_report_data(conn, *, schema: str = "marts", ml_schema: str = "ml") -> ReportData:
    """Read everything the report shows, in one read-only snapshot when the connection is idle."""
    own_transaction = (
        not conn.autocommit and conn.info.transaction_status == extensions.TRANSACTION_STATUS_IDLE
    )
    from insiders.report import trust  # imports this module's query helpers

    try:
        if own_transaction:
            with conn.cursor() as cur:
                cur.execute("set transaction isolation level repeatable read, read only")
        run_id = current_run_id(conn, schema)
        return ReportData(
            run_id=run_id,
            run=segmentation_run(conn, run_id, schema),
            segments=segment_summary(conn, schema),
            customers=customer_segments(conn, schema),
            rules=insider_rules(conn, schema),
            forecasts=segment_forecasts(conn, schema),
            validation=latest_forecast_validation(conn, schema),
            backtest=latest_backtest(conn, schema),
            candidates=segmentation_candidates(conn, run_id, ml_schema),
            flows=segment_flows(conn, schema),
            changes=membership_changes(conn, schema),
            calibration=trust.forecast_calibration(conn, schema),
            uplift=trust.programme_uplift(conn, schema),
            intervals=trust.revenue_intervals(conn, schema),
            backtest_calibration=trust.backtest_calibration(conn, schema),
            interval_coverage=trust.interval_coverage(conn, schema),
            next_steps=_select(
                conn, schema, "customer_next_steps", NEXT_STEPS_COLUMNS, order_by="customer_id"
            ),
        )
    finally:
        if own_transaction:
            conn.rollback()  # ends the read transaction the report opened; nothing was written
