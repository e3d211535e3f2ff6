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
    "segment_name", "as_of_date", "horizon_days", "customers", "predicted_revenue", "revenue_low",
    "revenue_high", "model_revenue_low", "model_revenue_high", "band_backtests", "is_interval_validated",
    "band_smallest_error_pct", "band_largest_error_pct", "backtest_cutoffs_checked",
    "model_cutoffs_covered", "band_cutoffs_checked", "band_cutoffs_covered", "history_days",
    "is_seasonal", "same_period_last_year_revenue", "holdout_cutoff_date", "holdout_days",
    "holdout_predicted_revenue", "holdout_revenue_low", "holdout_revenue_high", "holdout_actual_revenue",
    "holdout_revenue_error_pct",
    "is_holdout_covered",
)  # fmt: skip
COVERAGE_COLUMNS = (
    "cutoff_date", "horizon_days", "predicted_revenue", "actual_revenue", "revenue_error_pct",
    "predicted_revenue_low", "predicted_revenue_high", "is_covered_by_model_interval", "earlier_backtests",
    "band_revenue_low", "band_revenue_high", "is_covered_by_error_band", "has_year_before_cutoff",
)  # fmt: skip
SEASONAL_HISTORY_DAYS = 395  # 13 months: a year-over-year calendar index needs them
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


def interval_coverage(conn, schema: str = "marts") -> pd.DataFrame:
    """The total's intervals at every backtest cutoff (the newest backtest of each), oldest first."""
    return _select(
        conn, schema, "forecast_validation", COVERAGE_COLUMNS,
        where="segment_name = 'All customers' and is_latest_of_cutoff", order_by="cutoff_date, horizon_days",
    )  # fmt: skip


def _times(count) -> str:
    return {0: "none", 1: "once"}.get(int(count), f"{int(count)} times")


def interval_words(total: pd.Series) -> str:
    """Which interval the reader sees and how far it has been validated (from the mart's columns)."""
    money = charts.money
    low, high = money(total["revenue_low"]), money(total["revenue_high"])
    if not bool(total["is_interval_validated"]):
        return (
            f"The 95% interval runs from {low} to {high}: the model's alone (the customers' own "
            f"randomness), not validated: no backtest's horizon had ended by {total['as_of_date']}, so "
            "no past error widens it and nobody knows yet how often it covers what happens."
        )
    words = (
        f"The 95% interval to read runs from {low} to {high}: the model's own interval "
        f"({money(total['model_revenue_low'])} to {money(total['model_revenue_high'])}, the customers' "
        f"randomness only) widened by the errors of {num(total['band_backtests'])} earlier "
        f"backtest(s), which were off by {pct(total['band_smallest_error_pct'])} to "
        f"{pct(total['band_largest_error_pct'])}."
    )
    checked, banded = total["backtest_cutoffs_checked"], total["band_cutoffs_checked"]
    if pd.notna(checked) and checked > 0:
        words += (
            f" At the {num(checked)} backtest cutoff(s) whose horizon has ended, the model's interval "
            f"alone covered what happened {_times(total['model_cutoffs_covered'])}"
        )
        if pd.notna(banded) and banded > 0:
            words += (
                f"; the band, at the {num(banded)} of them with an earlier backtest to learn from (each "
                "built only from the errors known before that cutoff), "
                f"{_times(total['band_cutoffs_covered'])}"
            )
        words += "."
    return words


def seasonality_words(total: pd.Series) -> str:
    """The forecast ignores the calendar: say why from the history the data hold."""
    history = total["history_days"]
    if pd.notna(history):
        months = int(history // 30.44)
        why = (
            f"the data hold {months} months of history before {total['as_of_date']} "
            f"({num(history)} days); a calendar index needs 13 months or more"
        )
        if history >= SEASONAL_HISTORY_DAYS:
            why = f"the data hold {months} months of history, but no calendar index is fitted yet"
    else:
        why = "it needs 13 months of history or more to learn the calendar"
    last_year = total["same_period_last_year_revenue"]
    if pd.isna(last_year):
        seen = " The data do not reach back to the same period last year."
    else:
        where = (
            "below the interval"
            if last_year < total["revenue_low"]
            else "above the interval"
            if last_year > total["revenue_high"]
            else "inside the interval"
        )
        seen = (
            f" The same {num(total['horizon_days'])} days last year brought {charts.money(last_year)} "
            f"(all customers of the time; {where})."
        )
    return f"This forecast ignores seasonality: {why}.{seen}"


def interval_block(intervals: pd.DataFrame) -> list[str]:
    """The total revenue forecast with the interval to read, how far it is validated, the seasonality
    caveat and the holdout check."""
    if intervals.empty:
        return [empty("No revenue interval for this run.")]
    total = intervals[intervals["segment_name"] == "All customers"].iloc[0]
    money = charts.money
    days = num(total["horizon_days"])
    body = [
        f"<p>All customers together are expected to spend <b>{esc(money(total['predicted_revenue']))}</b> in "
        f"the next {esc(days)} days. {esc(interval_words(total))}</p>"
    ]
    if not bool(total["is_seasonal"]):
        words = seasonality_words(total)
        head, tail = words.split(":", 1)
        body.append(f"<p><b>{esc(head)}</b>:{esc(tail)}</p>")
    if pd.notna(total["holdout_predicted_revenue"]):
        covered = bool(total["is_holdout_covered"])
        verdict = (
            "the model's interval covered what happened"
            if covered
            else "the model's interval missed what happened"
        )
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
        (
            "Interval",
            lambda r: "widened by backtests" if bool(r["is_interval_validated"]) else "model's alone",
            False,
        ),
    ]
    body.append(table(intervals, columns, highlight=lambda r: r["segment_name"] == "All customers"))
    if (intervals["segment_name"] != "All customers").any():
        body.append(
            "<p class=\"note\">The segments' intervals are the model's alone: the backtests check the total "
            "only.</p>"
        )
    return body


def _yes_no(value) -> str:
    return "–" if value is None or pd.isna(value) else ("yes" if bool(value) else "no")


def _months(start, days) -> str:
    first = pd.Timestamp(start)
    last = first + pd.Timedelta(days=int(days) - 1)
    return f"{first:%B} to {last:%B}" if first.month != last.month else f"{first:%B}"


def coverage_block(coverage: pd.DataFrame) -> list[str]:
    """At each backtest cutoff: did the model's interval and the error band (from the errors known
    before that cutoff only) cover what happened? Why a band missed, when the data say why."""
    body = ["<h3>Did the interval cover what happened? (backtests)</h3>"]
    if coverage.empty:
        return [*body, empty("No backtest yet: the interval has not been checked against real purchases.")]
    money = charts.money
    banded = coverage[coverage["earlier_backtests"] > 0]
    body.append(
        f"<p>At {esc(num(len(coverage)))} backtest cutoff(s) the forecast made with the data before the "
        f"cutoff was compared with what happened. The model's interval alone covered it "
        f"{esc(_times(coverage['is_covered_by_model_interval'].fillna(False).astype(bool).sum()))}; the "
        f"error band, at the {esc(num(len(banded)))} cutoff(s) with an earlier backtest to learn from, "
        f"{esc(_times(banded['is_covered_by_error_band'].fillna(False).astype(bool).sum()))}.</p>"
    )
    missed = coverage[coverage["is_covered_by_error_band"].eq(False) & (coverage["earlier_backtests"] > 0)]
    has_year = missed["has_year_before_cutoff"].fillna(False).astype(bool)
    unseen = missed[~has_year]
    months = [_months(c, d) for c, d in zip(unseen["cutoff_date"], unseen["horizon_days"], strict=True)]
    for (days, period), group in unseen.groupby(
        [unseen["horizon_days"], pd.Series(months, index=unseen.index)]
    ):
        cutoffs = " and ".join(str(c) for c in group["cutoff_date"])
        body.append(
            f"<p>At {esc(cutoffs)} the band missed too: the {esc(num(days))} days after the cutoff "
            f"({esc(period)}) had no earlier year in the data before it, so no band learnt from earlier "
            "cutoffs had seen that season and none could be trusted to cover it.</p>"
        )
    for cutoff in missed.loc[has_year, "cutoff_date"]:
        body.append(
            f"<p>At {esc(cutoff)} the band missed: the error was larger than any earlier backtest's.</p>"
        )
    columns: list[Column] = [
        ("Cutoff", lambda r: r["cutoff_date"], False),
        ("Predicted", lambda r: money(r["predicted_revenue"]), True),
        ("Actual", lambda r: money(r["actual_revenue"]), True),
        ("Error", lambda r: pct(r["revenue_error_pct"]), True),
        (
            "Model's interval",
            lambda r: f"{money(r['predicted_revenue_low'])} to {money(r['predicted_revenue_high'])}",
            True,
        ),
        ("Covered", lambda r: _yes_no(r["is_covered_by_model_interval"]), False),
        ("Earlier backtests", lambda r: num(r["earlier_backtests"]), True),
        ("Error band", lambda r: f"{money(r['band_revenue_low'])} to {money(r['band_revenue_high'])}", True),
        ("Covered", lambda r: _yes_no(r["is_covered_by_error_band"]), False),
    ]
    body.append(table(coverage, columns))
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
