"""A tiny published ``marts`` schema (and ``ml.segmentation_candidates``) with the columns the report
reads: 60 customers in three segments, a current run and, optionally, a previous run, a backtest and
the model-selection candidates. Values are made up; only shapes and types matter.
"""

from __future__ import annotations

import json

import numpy as np

RUN = "20240102T000000Z-cafe01"
PREVIOUS_RUN = "20240101T000000Z-cafe00"
SEGMENTS = [  # segment_id, name, is_insider, customers, revenue scale
    (1, "Insiders", True, 10, 4000.0),
    (2, "Loyal customers", False, 20, 900.0),
    (3, "Lost", False, 30, 150.0),
]
HOSTILE_ACTION = 'Send <b>"gifts"</b> & <script>alert(1)</script>'

DDL = """
create schema marts;
create schema ml;
create table marts.segmentation_runs (
    run_id text, purpose text, status text, started_at timestamptz, finished_at timestamptz, as_of_date date,
    code_version text, algorithm text, chosen_k integer, n_customers integer, silhouette double precision,
    davies_bouldin double precision, calinski_harabasz double precision, inertia double precision,
    bic double precision, insiders_share double precision, insiders_revenue_share double precision,
    previous_run_id text, adjusted_rand_index double precision, customers_compared integer,
    rules_fidelity double precision, random_seed integer, features text[], parameters jsonb,
    is_current boolean);
create table marts.segment_summary (
    run_id text, segment_id integer, segment_name text, is_insider boolean, customers bigint,
    share_of_customers numeric, gross_revenue numeric, share_of_revenue numeric,
    median_gross_revenue double precision, median_recency_days double precision,
    median_purchases double precision, median_order_value double precision, returns_rate numeric,
    goal text, recommended_action text, channel text);
create table marts.customer_segments (
    customer_id text, run_id text, segment_id integer, segment_name text, is_insider boolean,
    gross_revenue numeric, recency_days integer, purchases bigint, products bigint,
    avg_order_value double precision, avg_days_between_purchases double precision);
create table marts.insider_rules (
    run_id text, rule_id integer, rule_text text, predicts_insider boolean, customers_matched integer,
    rule_precision double precision, rule_recall double precision);
create table marts.segment_forecasts (
    run_id text, segment_id integer, segment_name text, is_insider boolean, customers bigint,
    mean_probability_alive double precision, expected_revenue_30d double precision,
    expected_revenue_90d double precision, expected_revenue_180d double precision,
    share_of_expected_revenue_90d double precision, mean_probability_purchase_90d double precision);
create table marts.forecast_calibration (
    run_id text, is_current boolean, model_name text, is_chosen boolean, holdout_cutoff_date date,
    holdout_days integer, decile integer, customers integer, mean_predicted double precision,
    actual_share double precision, calibration_gap double precision, holdout_customers integer,
    holdout_buyers integer, brier_score double precision, log_loss double precision,
    base_rate double precision, brier_base_rate double precision, brier_skill double precision,
    max_decile_gap double precision);
create table marts.forecast_revenue_intervals (
    run_id text, is_current boolean, as_of_date date, segment_name text, horizon_days integer,
    customers integer, predicted_revenue double precision, revenue_low double precision,
    revenue_high double precision, model_revenue_low double precision, model_revenue_high double precision,
    band_backtests bigint, is_interval_validated boolean, interval_basis text,
    band_smallest_error_pct double precision, band_largest_error_pct double precision,
    backtest_cutoffs_checked bigint, model_cutoffs_covered bigint, band_cutoffs_checked bigint,
    band_cutoffs_covered bigint,
    history_days integer, is_seasonal boolean, same_period_last_year_revenue double precision, holdout_cutoff_date date,
    holdout_days integer, holdout_predicted_revenue double precision, holdout_revenue_low double precision,
    holdout_revenue_high double precision, holdout_actual_revenue double precision,
    holdout_revenue_error_pct double precision, is_holdout_covered boolean);
create table marts.programme_uplift (
    programme_start_date date, as_of_date date, is_started boolean, days_observed integer, verdict text,
    treated_customers bigint, control_customers bigint, treated_revenue_per_customer numeric,
    control_revenue_per_customer numeric, uplift_per_customer numeric, uplift_ci_low numeric,
    uplift_ci_high numeric, minimal_detectable_uplift numeric);
create table marts.forecast_validation (
    backtest_id text, is_latest boolean, cutoff_date date, horizon_days integer, segment_name text,
    customers integer, predicted_revenue double precision, actual_revenue double precision,
    revenue_error double precision, revenue_error_pct double precision,
    predicted_purchases double precision, actual_purchases integer, is_latest_of_cutoff boolean,
    predicted_revenue_low double precision, predicted_revenue_high double precision,
    is_covered_by_model_interval boolean, earlier_backtests bigint, band_revenue_low double precision,
    band_revenue_high double precision, is_covered_by_error_band boolean, has_year_before_cutoff boolean);
create table marts.backtest_results (
    backtest_id text, is_latest boolean, cutoff_date date, horizon_days integer, customers_at_cutoff integer,
    group_size integer, insiders_beat_baselines boolean, group_name text, group_label text,
    customers integer, future_revenue double precision, share_of_future_revenue double precision,
    future_buyers integer, best_baseline text, difference_to_best_baseline double precision,
    diff_ci_low double precision, diff_ci_high double precision, verdict text, verdict_sentence text);
create table marts.customer_next_steps (
    customer_id text, run_id text, segment_id integer, segment_name text, nearest_rule_id integer,
    nearest_rule_text text, unmet_conditions bigint, revenue_gap double precision, orders_gap integer,
    missing text, recommended_action text);
create table ml.segmentation_candidates (
    run_id text, algorithm text, k integer, n_segments integer, silhouette double precision,
    davies_bouldin double precision, calinski_harabasz double precision, inertia double precision,
    bic double precision, smallest_share double precision, insiders_share double precision,
    insiders_revenue_share double precision, selection_tier integer, is_chosen boolean,
    fit_seconds double precision);
create table marts.segment_flows (
    run_id text, previous_run_id text, is_current boolean, from_segment text, to_segment text,
    change_type text, customers bigint);
create table marts.segment_membership_changes (
    run_id text, previous_run_id text, is_current boolean, customer_id text, change_type text, from_segment_id integer,
    from_segment text, to_segment_id integer, to_segment text, is_insider_entry boolean,
    is_insider_exit boolean);
"""


def _insert(cur, table: str, rows: list[dict]) -> None:
    for row in rows:
        cols = ", ".join(row)
        cur.execute(
            f"insert into {table} ({cols}) values ({', '.join(['%s'] * len(row))})", list(row.values())
        )


def customers() -> list[dict]:
    rng = np.random.default_rng(7)
    rows, n = [], 0
    for segment_id, name, is_insider, count, scale in SEGMENTS:
        for _ in range(count):
            n += 1
            purchases = int(rng.integers(1, 12 if is_insider else 4))
            revenue = round(float(scale * rng.lognormal(0, 0.4)), 2)
            rows.append(
                {
                    "customer_id": f"{10000 + n}",
                    "run_id": RUN,
                    "segment_id": segment_id,
                    "segment_name": name,
                    "is_insider": is_insider,
                    "gross_revenue": revenue,
                    "recency_days": int(rng.integers(1, 40 if is_insider else 300)),
                    "purchases": purchases,
                    "products": int(rng.integers(1, 80)),
                    "avg_order_value": revenue / purchases,
                    "avg_days_between_purchases": None if purchases == 1 else float(rng.uniform(5, 120)),
                }
            )
    return rows


def build(conn, *, previous_run: bool = True, backtest: bool = True, candidates: bool = True) -> None:
    """Create and fill the tiny marts in the (empty) database of ``conn``; commits."""
    people = customers()
    total_revenue = sum(c["gross_revenue"] for c in people)
    with conn.cursor() as cur:
        cur.execute(DDL)
        parameters = {
            "selection_rule": {
                "k_min": 2, "k_max": 4, "min_segment_share": 0.02, "insiders_share_min": 0.05,
                "insiders_share_max": 0.2, "silhouette_tolerance": 0.005,
            }
        }  # fmt: skip
        runs = [(RUN, True, PREVIOUS_RUN if previous_run else None)]
        if previous_run:
            runs.append((PREVIOUS_RUN, False, None))
        _insert(
            cur,
            "marts.segmentation_runs",
            [
                {
                    "run_id": run_id,
                    "purpose": "cycle",
                    "status": "succeeded",
                    "as_of_date": "2011-12-10",
                    "code_version": "0.1.0",
                    "algorithm": "kmeans",
                    "chosen_k": 3,
                    "n_customers": len(people),
                    "silhouette": 0.31,
                    "davies_bouldin": 1.1,
                    "calinski_harabasz": 210.0,
                    "insiders_share": 1 / 6,
                    "insiders_revenue_share": 0.6,
                    "previous_run_id": previous,
                    "rules_fidelity": 0.95,
                    "adjusted_rand_index": 0.9 if previous else None,
                    "random_seed": 42,
                    "features": ["gross_revenue", "recency_days"],
                    "parameters": json.dumps(parameters),
                    "is_current": current,
                }  # fmt: skip
                for run_id, current, previous in runs
            ],
        )
        _insert(cur, "marts.customer_segments", people)
        summary = []
        for segment_id, name, is_insider, count, _ in SEGMENTS:
            mine = [c for c in people if c["segment_id"] == segment_id]
            revenue = sum(c["gross_revenue"] for c in mine)
            summary.append(
                {
                    "run_id": RUN,
                    "segment_id": segment_id,
                    "segment_name": name,
                    "is_insider": is_insider,
                    "customers": count,
                    "share_of_customers": count / len(people),
                    "gross_revenue": revenue,
                    "share_of_revenue": revenue / total_revenue,
                    "median_gross_revenue": float(np.median([c["gross_revenue"] for c in mine])),
                    "median_recency_days": float(np.median([c["recency_days"] for c in mine])),
                    "median_purchases": float(np.median([c["purchases"] for c in mine])),
                    "median_order_value": 100.0,
                    "returns_rate": 0.01,
                    "goal": "Keep",
                    "recommended_action": HOSTILE_ACTION if is_insider else "Email them",
                    "channel": "Email",
                }  # fmt: skip
            )
        _insert(cur, "marts.segment_summary", summary)
        _insert(
            cur,
            "marts.insider_rules",
            [
                {"run_id": RUN, "rule_id": 1, "rule_text": "gross_revenue > 2,000.00 and recency_days <= 40",
                 "predicts_insider": True, "customers_matched": 9, "rule_precision": 0.9, "rule_recall": 0.8},
                {"run_id": RUN, "rule_id": 2, "rule_text": "gross_revenue <= 2,000.00",
                 "predicts_insider": False, "customers_matched": 50, "rule_precision": 0.98, "rule_recall": 0.96},
            ],
        )  # fmt: skip
        _insert(
            cur,
            "marts.segment_forecasts",
            [
                {
                    "run_id": RUN,
                    "segment_id": segment_id,
                    "segment_name": name,
                    "is_insider": is_insider,
                    "customers": count,
                    "mean_probability_alive": 0.9,
                    "expected_revenue_30d": scale,
                    "expected_revenue_90d": 3 * scale,
                    "expected_revenue_180d": 6 * scale,
                    "share_of_expected_revenue_90d": scale / 5050,
                    "mean_probability_purchase_90d": 0.5,
                }  # fmt: skip
                for segment_id, name, is_insider, count, scale in SEGMENTS
            ],
        )
        _insert(
            cur,
            "marts.customer_next_steps",
            [
                {
                    "customer_id": f"n{i}",
                    "segment_name": "Promising" if i < 4 else "Lost",
                    "nearest_rule_text": "gross_revenue > 2,000.00",
                    "unmet_conditions": 0 if i == 0 else 1,
                    "revenue_gap": gap,
                    "orders_gap": 0,
                    "missing": f"GBP {gap:.0f} more revenue",
                    "recommended_action": "Invite" if i < 4 else "Win back",
                }  # fmt: skip
                for i, gap in enumerate([0.0, 300.0, 400.0, 1200.0, 1800.0, 1900.0])
            ],
        )
        if backtest:  # a first run of a young shop has neither a backtest nor a holdout check
            _fill_backtest(cur)
            _fill_trust(cur)
        if candidates:
            _insert(
                cur,
                "ml.segmentation_candidates",
                [
                    {
                        "run_id": RUN,
                        "algorithm": algorithm,
                        "k": k,
                        "n_segments": k,
                        "silhouette": 0.4 - 0.03 * k,
                        "davies_bouldin": 1.0 + 0.1 * k,
                        "calinski_harabasz": 300 - 20 * k,
                        "bic": 1000.0 if algorithm == "gmm" else None,
                        "smallest_share": 0.5 / k,
                        "insiders_share": 0.5 / k,
                        "insiders_revenue_share": 0.6,
                        "selection_tier": 1 if 2 <= k <= 4 else 3,
                        "is_chosen": algorithm == "kmeans" and k == 3,
                    }  # fmt: skip
                    for algorithm in ("kmeans", "gmm")
                    for k in range(2, 7)
                ],
            )
        if previous_run:
            _fill_changes(cur, people)
    conn.commit()


def _fill_backtest(cur) -> None:
    for backtest_id, latest in (("bt-old", False), ("bt-new", True)):
        _insert(
            cur,
            "marts.backtest_results",
            [
                {
                    "backtest_id": backtest_id,
                    "is_latest": latest,
                    "cutoff_date": "2011-09-10",
                    "horizon_days": 91,
                    "customers_at_cutoff": 50,
                    "group_size": 8,
                    "insiders_beat_baselines": True,
                    "group_name": group,
                    "group_label": label,
                    "customers": 8,
                    "future_revenue": share * 10000,
                    "share_of_future_revenue": share,
                    "future_buyers": 7,
                    "best_baseline": "top_past_revenue",
                    "difference_to_best_baseline": 0.05,
                    "diff_ci_low": -0.01,
                    "diff_ci_high": 0.11,
                    "verdict": "level with",
                    "verdict_sentence": "The Insiders are level with the best baseline (the difference is inside the noise)",
                }  # fmt: skip
                for group, label, share in (
                    ("insiders", "Insiders (segment at the cutoff)", 0.55),
                    ("top_past_revenue", "Same number, by past gross revenue", 0.5),
                    ("top_rfm", "Same number, by RFM score", 0.45),
                    ("oracle", "Oracle: the same number who really spent most", 0.7),
                )
            ],
        )
        _insert(
            cur,
            "marts.forecast_validation",
            [
                {
                    "backtest_id": backtest_id,
                    "is_latest": latest,
                    "cutoff_date": "2011-09-10",
                    "horizon_days": 91,
                    "segment_name": name,
                    "customers": 10,
                    "predicted_revenue": predicted,
                    "actual_revenue": actual,
                    "revenue_error": predicted - actual,
                    "revenue_error_pct": (predicted - actual) / actual,
                    "predicted_purchases": 12.5,
                    "actual_purchases": 15,
                    "is_latest_of_cutoff": latest,
                    **_validation_band(name),
                }  # fmt: skip
                for name, predicted, actual in (
                    ("Insiders", 800.0, 1000.0),
                    ("Lost", 90.0, 100.0),
                    ("All customers", 890.0, 1100.0),
                )
            ],
        )


def _validation_band(name: str) -> dict:
    """The total's intervals at the tiny backtest: both miss the 1,100 (no year before the cutoff)."""
    if name != "All customers":
        return {"earlier_backtests": 0}
    return {"predicted_revenue_low": 850.0, "predicted_revenue_high": 950.0, "is_covered_by_model_interval": False,
            "earlier_backtests": 2, "band_revenue_low": 850.0, "band_revenue_high": 1050.0,
            "is_covered_by_error_band": False, "has_year_before_cutoff": False}  # fmt: skip


def _band(is_total: bool, value: float) -> dict:
    """The published interval: the total's widened by two earlier backtests, a segment's the model's."""
    if not is_total:
        return {"revenue_low": 0.9 * value, "revenue_high": 1.1 * value, "band_backtests": 0,
                "is_interval_validated": False, "interval_basis": "model alone, not validated"}  # fmt: skip
    return {"revenue_low": 0.9 * value, "revenue_high": 1.65 * value, "band_backtests": 2,
            "is_interval_validated": True, "interval_basis": "model widened by earlier backtest errors",
            "band_smallest_error_pct": -0.3, "band_largest_error_pct": -0.1, "backtest_cutoffs_checked": 2,
            "model_cutoffs_covered": 0, "band_cutoffs_checked": 2, "band_cutoffs_covered": 1}  # fmt: skip


def _fill_changes(cur, people: list[dict]) -> None:
    """Two customers moved (one of them left the Insiders), one is new, one is gone; the rest stayed."""
    moved_out, moved_in, new = people[0], people[10], people[-1]
    changes = [
        {"customer_id": moved_out["customer_id"], "change_type": "moved", "from_segment_id": 1,
         "from_segment": "Insiders", "to_segment_id": 2, "to_segment": "Loyal customers",
         "is_insider_entry": False, "is_insider_exit": True},
        {"customer_id": moved_in["customer_id"], "change_type": "moved", "from_segment_id": 3,
         "from_segment": "Lost", "to_segment_id": 2, "to_segment": "Loyal customers",
         "is_insider_entry": False, "is_insider_exit": False},
        {"customer_id": new["customer_id"], "change_type": "entered", "from_segment_id": None,
         "from_segment": None, "to_segment_id": 3, "to_segment": "Lost",
         "is_insider_entry": False, "is_insider_exit": False},
        {"customer_id": "99999", "change_type": "left", "from_segment_id": 3, "from_segment": "Lost",
         "to_segment_id": None, "to_segment": None, "is_insider_entry": False, "is_insider_exit": False},
    ]  # fmt: skip
    _insert(
        cur,
        "marts.segment_membership_changes",
        [{"run_id": RUN, "previous_run_id": PREVIOUS_RUN, "is_current": True, **c} for c in changes],
    )
    flows = [
        ("Insiders", "Insiders", "stayed", 9), ("Insiders", "Loyal customers", "moved", 1),
        ("Loyal customers", "Loyal customers", "stayed", 18), ("Lost", "Loyal customers", "moved", 1),
        ("Lost", "Lost", "stayed", 28), ("Lost", "(gone)", "left", 1), ("(not a customer yet)", "Lost", "entered", 1),
    ]  # fmt: skip
    _insert(
        cur,
        "marts.segment_flows",
        [
            {
                "run_id": RUN,
                "previous_run_id": PREVIOUS_RUN,
                "is_current": True,
                "from_segment": f,
                "to_segment": t,
                "change_type": change,
                "customers": n,
            }
            for f, t, change, n in flows
        ],
    )


def _fill_trust(cur) -> None:
    _insert(
        cur,
        "marts.forecast_validation",
        [{"backtest_id": "bt-june", "is_latest": False, "is_latest_of_cutoff": True, "cutoff_date": "2011-06-11",
          "horizon_days": 91, "segment_name": "All customers", "customers": 9, "predicted_revenue": 1000.0,
          "actual_revenue": 1050.0, "revenue_error": -50.0, "revenue_error_pct": -50 / 1050,
          "predicted_purchases": 11.0, "actual_purchases": 12, "predicted_revenue_low": 900.0,
          "predicted_revenue_high": 1040.0, "is_covered_by_model_interval": False, "earlier_backtests": 1,
          "band_revenue_low": 900.0, "band_revenue_high": 1200.0, "is_covered_by_error_band": True,
          "has_year_before_cutoff": False}],
    )  # fmt: skip
    """The holdout check of three models (logistic chosen) and a programme 92 days in."""
    scores = {
        "bg_nbd": (0.2183, 0.109, 0.161),
        "pareto_nbd": (0.2184, 0.108, 0.161),
        "logistic": (0.2095, 0.146, 0.131),
    }
    rows = []
    for model, (brier, skill, gap) in scores.items():
        for decile in range(1, 11):
            predicted = (decile - 0.5) / 10
            rows.append(
                {"run_id": RUN, "is_current": True, "model_name": model, "is_chosen": model == "logistic",
                 "holdout_cutoff_date": "2023-10-04", "holdout_days": 90, "decile": decile, "customers": 6,
                 "mean_predicted": predicted, "actual_share": min(1.0, predicted + 0.05),
                 "calibration_gap": -0.05, "holdout_customers": 60, "holdout_buyers": 33, "brier_score": brier,
                 "log_loss": 0.6, "base_rate": 0.55, "brier_base_rate": 0.2451, "brier_skill": skill,
                 "max_decile_gap": gap}
            )  # fmt: skip
    _insert(cur, "marts.forecast_calibration", rows)
    check = {"holdout_cutoff_date": "2023-10-04", "holdout_days": 90, "holdout_predicted_revenue": 9000.0,
             "holdout_revenue_low": 8500.0, "holdout_revenue_high": 9500.0, "holdout_actual_revenue": 12000.0,
             "holdout_revenue_error_pct": -0.25, "is_holdout_covered": False}  # fmt: skip
    _insert(
        cur,
        "marts.forecast_revenue_intervals",
        [
            {"run_id": RUN, "is_current": True, "segment_name": name, "horizon_days": 90, "customers": n,
             "as_of_date": "2024-01-02", "predicted_revenue": value, "model_revenue_low": 0.9 * value,
             "model_revenue_high": 1.1 * value, **_band(name == "All customers", value), "history_days": 180,
             "is_seasonal": False, "same_period_last_year_revenue": 7777.0 if name == "All customers" else None,
             **check}
            for name, n, value in [("All customers", 60, 15150.0), ("Insiders", 10, 12000.0)]
        ],
    )  # fmt: skip
    _insert(
        cur,
        "marts.programme_uplift",
        [
            {"programme_start_date": "2023-10-02", "as_of_date": "2024-01-02", "is_started": True,
             "days_observed": 92, "verdict": "treated Insiders are level with the control group (difference "
             "inside the noise)", "treated_customers": 8, "control_customers": 2,
             "treated_revenue_per_customer": 1210.5, "control_revenue_per_customer": 1100.25,
             "uplift_per_customer": 110.25, "uplift_ci_low": -640.1, "uplift_ci_high": 860.6,
             "minimal_detectable_uplift": 1071.3}
        ],
    )  # fmt: skip
