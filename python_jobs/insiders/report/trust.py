"""How sure the report's figures are: the purchase probabilities' calibration on the holdout and the
programme's measured uplift. The queries (read from the marts, empty frames when a mart is missing) and
the HTML blocks of the forecast and uplift sections."""

from __future__ import annotations

import pandas as pd

from insiders.report import charts
from insiders.report.data import _select
from insiders.report.markup import Column, card_grid, empty, esc, image, num, pct, table

CALIBRATION_COLUMNS = (
    "model_name", "is_chosen", "holdout_cutoff_date", "holdout_days", "decile", "customers", "mean_predicted",
    "actual_share", "calibration_gap", "holdout_customers", "holdout_buyers", "brier_score", "log_loss",
    "base_rate", "brier_base_rate", "brier_skill", "max_decile_gap",
)  # fmt: skip
UPLIFT_COLUMNS = (
    "programme_start_date", "as_of_date", "is_started", "days_observed", "verdict", "treated_customers",
    "control_customers", "treated_revenue_per_customer", "control_revenue_per_customer",
    "uplift_per_customer", "uplift_ci_low", "uplift_ci_high", "minimal_detectable_uplift",
)  # fmt: skip
INTERVAL_COLUMNS = (
    "segment_name", "horizon_days", "customers", "predicted_revenue", "revenue_low", "revenue_high",
    "is_seasonal", "same_period_last_year_revenue", "holdout_cutoff_date", "holdout_days",
    "holdout_predicted_revenue", "holdout_revenue_low", "holdout_revenue_high", "holdout_actual_revenue",
    "holdout_revenue_error_pct",
    "is_holdout_covered",
)  # fmt: skip
BACKTEST_CALIBRATION_COLUMNS = (
    "cutoff_date", "horizon_days", "decile", "customers", "mean_predicted", "actual_share", "gap",
    "worst_decile_gap", "cutoff_customers", "base_rate", "brier_score", "base_rate_brier_score",
    "brier_skill",
)  # fmt: skip
MODEL_LABELS = {
    "bg_nbd": "BG/NBD",
    "pareto_nbd": "Pareto/NBD",
    "logistic": "logistic (recency, frequency, age)",
}


def forecast_calibration(conn, schema: str = "marts") -> pd.DataFrame:
    """The current run's holdout check: one row per model and decile."""
    return _select(
        conn,
        schema,
        "forecast_calibration",
        CALIBRATION_COLUMNS,
        where="is_current",
        order_by="model_name, decile",
    )


def backtest_calibration(conn, schema: str = "marts") -> pd.DataFrame:
    """The purchase probabilities' check at every backtest cutoff: one row per cutoff and decile."""
    return _select(
        conn, schema, "forecast_backtest_calibration", BACKTEST_CALIBRATION_COLUMNS,
        order_by="cutoff_date desc, horizon_days, decile",
    )  # fmt: skip


def backtest_calibration_block(calibration: pd.DataFrame) -> list[str]:
    """Per backtest cutoff: Brier skill vs the base rate and the worst decile gap; the latest cutoff's
    deciles as a plot."""
    body = ["<h3>Were the purchase probabilities right at past cutoffs? (backtests)</h3>"]
    if calibration.empty:
        return [*body, empty("No backtest with per-customer predictions yet.")]
    cutoffs = calibration.drop_duplicates(["cutoff_date", "horizon_days"])
    latest = cutoffs.iloc[0]
    skill, gap = f"{latest['brier_skill']:.2f}", num(100 * latest["worst_decile_gap"])
    body.append(
        f"<p>At {esc(num(len(cutoffs)))} backtest cutoff(s) the forecast fitted on the data before the "
        "cutoff gave every customer a chance of buying in the horizon after it. At the latest, "
        f"{esc(latest['cutoff_date'])} ({esc(num(latest['horizon_days']))} days), "
        f"{esc(pct(latest['base_rate']))} of the {esc(num(latest['cutoff_customers']))} customers bought; "
        f"Brier skill <b>{esc(skill)}</b>, {esc(skill_words(latest['brier_skill']))}; the deciles are off "
        f"by at most <b>{esc(gap)}</b> percentage points.</p>"
    )
    deciles = calibration[
        (calibration["cutoff_date"] == latest["cutoff_date"])
        & (calibration["horizon_days"] == latest["horizon_days"])
    ].rename(columns={"gap": "calibration_gap"})
    body.append(
        image(charts.calibration_plot(deciles), "Predicted vs actual share of buyers per decile (backtest)")
    )
    columns: list[Column] = [
        ("Cutoff", lambda r: r["cutoff_date"], False),
        ("Horizon (days)", lambda r: num(r["horizon_days"]), True),
        ("Customers", lambda r: num(r["cutoff_customers"]), True),
        ("Bought", lambda r: pct(r["base_rate"]), True),
        ("Brier score", lambda r: f"{r['brier_score']:.4f}", True),
        ("Base rate's", lambda r: f"{r['base_rate_brier_score']:.4f}", True),
        ("Skill", lambda r: f"{r['brier_skill']:.2f}", True),
        ("Worst decile gap (points)", lambda r: num(100 * r["worst_decile_gap"]), True),
    ]
    body.append(table(cutoffs, columns))
    return body


def revenue_intervals(conn, schema: str = "marts") -> pd.DataFrame:
    """The current run's revenue forecast with its interval, "All customers" first."""
    return _select(
        conn, schema, "forecast_revenue_intervals", INTERVAL_COLUMNS, where="is_current",
        order_by="segment_name <> 'All customers', predicted_revenue desc",
    )  # fmt: skip


def interval_block(intervals: pd.DataFrame) -> list[str]:
    """The total revenue forecast with its interval, the seasonality caveat and the holdout check."""
    if intervals.empty:
        return [empty("No revenue interval for this run.")]
    total = intervals[intervals["segment_name"] == "All customers"].iloc[0]
    money = charts.money
    days = num(total["horizon_days"])
    body = [
        f"<p>All customers together are expected to spend <b>{esc(money(total['predicted_revenue']))}</b> in "
        f"the next {esc(days)} days (95% interval {esc(money(total['revenue_low']))} to "
        f"{esc(money(total['revenue_high']))}: the customers' own randomness only).</p>"
    ]
    if not bool(total["is_seasonal"]):
        last_year = total["same_period_last_year_revenue"]
        seen = (
            f" The same {days} days last year brought {money(last_year)} (all customers of the time)."
            if pd.notna(last_year)
            else " The data do not reach back to the same period last year."
        )
        body.append(
            "<p><b>This forecast ignores seasonality</b>: it needs 13 months of history or more to learn "
            f"the calendar.{esc(seen)}</p>"
        )
    if pd.notna(total["holdout_predicted_revenue"]):
        covered = bool(total["is_holdout_covered"])
        verdict = "its interval covered what happened" if covered else "its interval missed what happened"
        body.append(
            f"<p>The same forecast made on {esc(total['holdout_cutoff_date'])} expected "
            f"{esc(money(total['holdout_predicted_revenue']))} "
            f"({esc(money(total['holdout_revenue_low']))} to {esc(money(total['holdout_revenue_high']))}) "
            f"for the next {esc(num(total['holdout_days']))} days; "
            f"the customers spent {esc(money(total['holdout_actual_revenue']))}, an error of "
            f"<b>{esc(pct(total['holdout_revenue_error_pct']))}</b>: {esc(verdict)}.</p>"
        )
    columns: list[Column] = [
        ("Segment", lambda r: r["segment_name"], False),
        ("Customers", lambda r: num(r["customers"]), True),
        (f"Next {days} days", lambda r: money(r["predicted_revenue"]), True),
        ("95% interval from", lambda r: money(r["revenue_low"]), True),
        ("to", lambda r: money(r["revenue_high"]), True),
    ]
    body.append(table(intervals, columns, highlight=lambda r: r["segment_name"] == "All customers"))
    return body


def programme_uplift(conn, schema: str = "marts") -> pd.DataFrame:
    return _select(conn, schema, "programme_uplift", UPLIFT_COLUMNS)


def skill_words(skill: float) -> str:
    """The Brier skill in words: a model must beat the base rate clearly to be called useful."""
    if pd.isna(skill) or skill <= 0.02:
        return "no better than quoting the average share of buyers to everyone"
    if skill < 0.1:
        return "a little better than quoting the average share of buyers to everyone"
    return "clearly better than quoting the average share of buyers to everyone"


def calibration_block(calibration: pd.DataFrame) -> list[str]:
    """The holdout check of the purchase probabilities (part of the forecast section)."""
    body = ["<h3>How sure are the purchase probabilities? (holdout)</h3>"]
    if calibration.empty:
        return [*body, empty("No holdout check yet: the history is shorter than two holdout periods.")]
    scores = calibration.drop_duplicates("model_name").set_index("model_name")
    chosen = scores[scores["is_chosen"].astype(bool)].iloc[0]
    chosen_name = str(chosen.name)
    deciles = calibration[calibration["model_name"] == chosen_name]
    skill = f"{chosen['brier_skill']:.2f}"
    body.append(
        f"<p>Each model saw the purchases before {esc(chosen['holdout_cutoff_date'])} and gave every one of "
        f"the {esc(num(chosen['holdout_customers']))} customers a probability of buying in the next "
        f"{esc(num(chosen['holdout_days']))} days; {esc(num(chosen['holdout_buyers']))} of them did "
        f"({esc(pct(chosen['base_rate']))}). The published probabilities come from the model with the lowest "
        f"Brier score, <b>{esc(MODEL_LABELS.get(chosen_name, chosen_name))}</b>: Brier skill "
        f"<b>{esc(skill)}</b>, {esc(skill_words(chosen['brier_skill']))}; its "
        f"deciles are off by at most <b>{esc(num(100 * chosen['max_decile_gap']))}</b> percentage points.</p>"
    )
    if scores.index.isin(["bg_nbd", "pareto_nbd"]).sum() == 2:
        bg, pnbd = scores.loc["bg_nbd"], scores.loc["pareto_nbd"]
        if abs(bg["brier_score"] - pnbd["brier_score"]) < 0.002:
            body.append(
                "<p>BG/NBD and Pareto/NBD are level with each other: on this history both fits find almost "
                "no dropout, so they say every customer is still active (probability alive near 1) and "
                "differ only in how often each buys. Read the purchase probabilities, not the probability "
                "alive.</p>"
            )
    body.append(image(charts.calibration_plot(deciles), "Predicted vs actual share of buyers per decile"))
    columns: list[Column] = [
        ("Model", lambda r: MODEL_LABELS.get(r.name, r.name), False),
        ("Brier score", lambda r: f"{r['brier_score']:.4f}", True),
        ("Base-rate Brier", lambda r: f"{r['brier_base_rate']:.4f}", True),
        ("Brier skill", lambda r: f"{r['brier_skill']:.3f}", True),
        ("Log-loss", lambda r: f"{r['log_loss']:.4f}", True),
        ("Mean predicted", lambda r: pct(r["mean_predicted_all"]), True),
        ("Worst decile gap", lambda r: pct(r["max_decile_gap"]), True),
    ]
    means = calibration.assign(w=calibration["mean_predicted"] * calibration["customers"]).groupby(
        "model_name"
    )
    scores = scores.assign(mean_predicted_all=means["w"].sum() / means["customers"].sum())
    body.append(table(scores, columns, highlight=lambda r: bool(r["is_chosen"])))
    return body


def uplift_block(uplift: pd.DataFrame) -> list[str]:
    """The programme's measured effect: treated vs control Insiders since the start."""
    if uplift.empty:
        return [empty("No programme_uplift mart yet.")]
    row = uplift.iloc[0]
    sizes = (
        f"{num(row['treated_customers'])} treated Insiders and {num(row['control_customers'])} in the "
        "held-out control group"
    )
    if not bool(row["is_started"]):
        return [f"<p>{esc(row['verdict'].capitalize())}. The groups are ready: {esc(sizes)}.</p>"]
    cards = [
        (charts.money(row["treated_revenue_per_customer"]), "per treated Insider since the start"),
        (charts.money(row["control_revenue_per_customer"]), "per control Insider"),
        (charts.money(row["uplift_per_customer"]), "difference per customer"),
    ]
    return [
        card_grid(cards),
        f"<p>Over {esc(num(row['days_observed']))} days since {esc(row['programme_start_date'])}, "
        f"{esc(sizes)}: {esc(row['verdict'])}. The 95% interval of the difference per customer runs from "
        f"{esc(charts.money(row['uplift_ci_low']))} to {esc(charts.money(row['uplift_ci_high']))}; with "
        f"these group sizes only an uplift of about {esc(charts.money(row['minimal_detectable_uplift']))} "
        "per customer or more would be found 4 times out of 5.</p>",
    ]
