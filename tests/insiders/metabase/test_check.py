"""Every card's SQL plans (EXPLAIN) against a marts schema.

Until the marts are final, the schema here is a stub: empty tables with the columns the cards assume
(this DDL is that assumption, written down). Once the marts exist, the same ``explain_cards`` runs
against the real ones (built by dbt) and this stub can go.
"""

from __future__ import annotations

from insiders.metabase import load_dashboards
from insiders.metabase.check import explain_cards

from .conftest import SPECS

ASSUMED_MARTS = """
create schema marts;
create table marts.customer_features (
    customer_id bigint, gross_revenue numeric, recency_days integer, purchases integer, items integer,
    products integer, avg_order_value numeric, r_score integer, f_score integer, m_score integer,
    country text
);
create table marts.customer_segments (
    customer_id bigint, run_id text, segment_id integer, segment_name text, is_insider boolean,
    gross_revenue numeric
);
create table marts.segment_summary (
    segment_id integer, segment_name text, customers integer, share_of_customers numeric,
    gross_revenue numeric, share_of_revenue numeric, mean_gross_revenue numeric,
    mean_recency_days numeric, returns_rate numeric, recommended_action text
);
create table marts.insiders (customer_id bigint, gross_revenue numeric, is_control boolean);
create table marts.segmentation_runs (
    run_id text, started_at timestamptz, chosen_k integer, silhouette double precision,
    davies_bouldin double precision, calinski_harabasz double precision,
    adjusted_rand_index double precision, status text
);
create table marts.insider_rules (
    rule_text text, predicts_insider boolean, rule_precision double precision, rule_recall double precision,
    customers_matched integer
);
create table marts.segment_forecasts (
    segment_name text, expected_revenue_30d numeric, expected_revenue_90d numeric,
    expected_revenue_180d numeric
);
create table marts.backtest_results (
    group_name text, group_label text, is_latest boolean, share_of_future_revenue double precision
);
create table marts.insider_exits (customer_id text, feature text, standardized_change numeric, change_rank bigint);
create table marts.forecast_validation (
    is_latest boolean, segment_name text, predicted_revenue double precision, actual_revenue double precision,
    revenue_error_pct double precision
);
create table marts.segment_membership_changes (
    run_id text, customer_id text, is_insider_entry boolean, is_insider_exit boolean
);
create table marts.segment_flows (from_segment text, to_segment text, customers integer);
create table marts.data_quality (
    file_name text, rows_in_file integer, rows_loaded integer, rows_rejected integer
);
"""


def test_every_card_plans_against_the_assumed_marts(pg_conn):
    with pg_conn.cursor() as cur:
        cur.execute(ASSUMED_MARTS)
    pg_conn.commit()

    assert explain_cards(pg_conn, load_dashboards(SPECS)) == []


def test_a_card_on_a_missing_column_is_reported(pg_conn):
    with pg_conn.cursor() as cur:
        cur.execute(ASSUMED_MARTS.replace("returns_rate numeric,", ""))
    pg_conn.commit()

    failures = explain_cards(pg_conn, load_dashboards(SPECS))

    assert failures == ['Insiders / Segment profiles: column "returns_rate" does not exist']
