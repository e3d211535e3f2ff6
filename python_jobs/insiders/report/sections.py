"""The nine sections of the report, one function each: ReportData (and the segment colours) in, escaped
HTML out. A section whose data is missing (first run, no backtest yet...) says so in one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd

from insiders.report import charts
from insiders.report.data import ReportData
from insiders.report.markup import Column, card_grid, empty, esc, image, num, pct, table
from insiders.report.stats import FEATURE_LABELS, axis_description, feature_profile, projection
from insiders.report.trust import (
    backtest_calibration_block,
    calibration_block,
    coverage_block,
    interval_block,
    uplift_block,
)

SECTIONS = {  # id → title, in page order
    "summary": "At a glance",
    "segments": "Segments: size and revenue",
    "profile": "What each segment looks like",
    "projection": "Customers on a map",
    "rules": "How to become an Insider",
    "next-steps": "Each customer's path to the Insiders",
    "forecast": "Revenue forecast",
    "backtest": "Proof: the backtest",
    "uplift": "The programme's measured effect",
    "model-selection": "How the segmentation was chosen",
    "changes": "Changes since the previous run",
}


def section(section_id: str, lead: str, body: Iterable[str]) -> str:
    return (
        f'<section id="{esc(section_id)}"><h2>{esc(SECTIONS[section_id])}</h2>'
        f'<p class="lead">{esc(lead)}</p>{"".join(body)}</section>'
    )


def _is_insider(row) -> bool:
    return bool(row.get("is_insider")) if pd.notna(row.get("is_insider")) else False


def summary_section(data: ReportData) -> str:
    run, segments = data.run, data.segments
    insiders = segments[segments["is_insider"].fillna(False).astype(bool)]
    cards = [(num(len(data.customers)), "customers segmented"), (num(len(segments)), "segments")]
    if not insiders.empty:
        ins = insiders.iloc[0]
        cards += [
            (num(ins["customers"]), f"{ins['segment_name']}: {pct(ins['share_of_customers'])} of customers"),
            (pct(ins["share_of_revenue"], 0), "of revenue comes from the Insiders"),
        ]
        forecast = data.forecasts[data.forecasts["is_insider"].fillna(False).astype(bool)]
        if not forecast.empty:
            cards.append(
                (charts.money(forecast["expected_revenue_90d"].iloc[0]), "expected from Insiders, 90 days")
            )
    meta = [
        ("run", data.run_id),
        ("data as of", run.get("as_of_date")),
        ("model", f"{run.get('algorithm', '?')}, k = {run.get('chosen_k', '?')}" if run else None),
        ("previous run", data.previous_run_id or "none (first run)"),
        ("code version", run.get("code_version")),
        ("report generated", f"{data.generated_at:%Y-%m-%d %H:%M} UTC"),
    ]
    meta_html = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta if v is not None)
    return section(
        "summary",
        "The segmentation of this run in a few numbers. The Insiders are the segment of the best customers.",
        [card_grid(cards), f'<dl class="meta">{meta_html}</dl>'],
    )


def segments_section(data: ReportData, colours: dict[str, str]) -> str:
    segments = data.segments
    if segments.empty:
        return section("segments", "", [empty("No segment summary in the marts yet.")])
    ordered = segments.sort_values("share_of_revenue", ascending=False)
    columns: list[Column] = [
        ("Segment", lambda r: r["segment_name"], False),
        ("Customers", lambda r: num(r["customers"]), True),
        ("% of customers", lambda r: pct(r["share_of_customers"]), True),
        ("Revenue", lambda r: charts.money(r["gross_revenue"]), True),
        ("% of revenue", lambda r: pct(r["share_of_revenue"]), True),
        ("Median revenue", lambda r: charts.money(r["median_gross_revenue"]), True),
        ("Median days since last purchase", lambda r: num(r["median_recency_days"]), True),
        ("Median orders", lambda r: num(r["median_purchases"]), True),
    ]
    playbook: list[Column] = [
        ("Segment", lambda r: r["segment_name"], False),
        ("Goal", lambda r: _text(r["goal"]), False),
        ("Recommended action", lambda r: _text(r["recommended_action"]), False),
        ("Channel", lambda r: _text(r["channel"]), False),
    ]
    return section(
        "segments",
        "How many customers each segment holds and how much of the revenue they bring.",
        [
            image(charts.segment_shares(segments, colours), "Share of customers and of revenue per segment"),
            table(ordered, columns, highlight=_is_insider),
            "<h3>What to do with each segment (playbook)</h3>",
            table(ordered, playbook, highlight=_is_insider),
        ],
    )


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def profile_section(data: ReportData) -> str:
    if data.customers.empty:
        return section("profile", "", [empty("No customers in the segmentation.")])
    order = list(data.segments.sort_values("share_of_revenue", ascending=False)["segment_name"])
    profile = feature_profile(data.customers, order or None)
    return section(
        "profile",
        "Each row is a segment, each column a trait the segmentation used. Red: more than the average "
        "customer; blue: less (for the two columns in days, blue means more recent or more often). "
        "The number in each cell is the segment's median.",
        [
            image(
                charts.profile_heatmap(profile),
                "Heat map of the segments' traits",
                "Colour: the segment's mean of the log-scaled, standardised trait (0 = average customer, "
                "±1 = one standard deviation). Days between orders: customers with one order count as 365.",
            )
        ],
    )


def projection_section(data: ReportData, colours: dict[str, str], sample_size: int, seed: int) -> str:
    proj = projection(data.customers, sample_size=sample_size, seed=seed)
    if proj is None:
        return section("projection", "", [empty("Too few customers to draw a map.")])
    guide = (
        f'<p class="note">To the right: {esc(axis_description(proj.loadings["pc1"]))}. '
        f"Upwards: {esc(axis_description(proj.loadings['pc2']))}.</p>"
    )
    return section(
        "projection",
        "Every dot is a customer, placed by the six traits at once: customers close together buy alike.",
        [
            image(
                charts.projection_scatter(proj, colours),
                "Customers projected on two dimensions, coloured by segment",
                f"Principal component analysis of the six log-scaled, standardised traits of all "
                f"{len(data.customers):,} customers; {len(proj.points):,} customers drawn (random sample, "
                f"seed {seed}).",
            ),
            guide,
        ],
    )


def rules_section(data: ReportData) -> str:
    rules = data.rules
    if rules.empty:
        return section("rules", "", [empty("No entry rules for this run.")])
    fidelity = data.run.get("rules_fidelity")
    lead = "Readable rules (a small decision tree) that reproduce who is an Insider"
    lead += f": they agree with the segmentation for {pct(fidelity)} of customers." if fidelity else "."
    columns: list[Column] = [
        ("Rule", lambda r: r["rule_text"], False),
        ("Outcome", lambda r: "Insider" if r["predicts_insider"] else "not an Insider", False),
        ("Customers matched", lambda r: num(r["customers_matched"]), True),
        ("Precision", lambda r: pct(r["rule_precision"]), True),
        ("Recall", lambda r: pct(r["rule_recall"]), True),
    ]
    glossary = "; ".join(f"{name} = {label}" for name, label in FEATURE_LABELS.items())
    return section(
        "rules",
        lead,
        [
            table(rules, columns, highlight=lambda r: bool(r["predicts_insider"])),
            f'<p class="note">Precision: share of the matched customers with that outcome. Recall: share '
            f"of all customers with that outcome that the rule finds. {esc(glossary)}.</p>",
        ],
    )


def forecast_section(data: ReportData, colours: dict[str, str]) -> str:
    body = []
    forecasts = data.forecasts
    if forecasts.empty:
        body.append(empty("No revenue forecast for this run."))
    else:
        body.append(image(charts.forecast_bars(forecasts, colours), "Expected revenue per segment"))
        columns: list[Column] = [
            ("Segment", lambda r: r["segment_name"], False),
            ("Customers", lambda r: num(r["customers"]), True),
            ("Chance to buy in 90 days", lambda r: pct(r["mean_probability_purchase_90d"]), True),
            ("Next 30 days", lambda r: charts.money(r["expected_revenue_30d"]), True),
            ("Next 90 days", lambda r: charts.money(r["expected_revenue_90d"]), True),
            ("Next 180 days", lambda r: charts.money(r["expected_revenue_180d"]), True),
            ("% of the 90-day revenue", lambda r: pct(r["share_of_expected_revenue_90d"]), True),
        ]
        body.append(table(forecasts, columns, highlight=_is_insider))
    body.append("<h3>How uncertain is the revenue?</h3>")
    body.extend(interval_block(data.intervals))
    body.extend(calibration_block(data.calibration))
    body.extend(backtest_calibration_block(data.backtest_calibration))
    body.append("<h3>How far off was the revenue? (backtest)</h3>")
    validation = data.validation
    if validation.empty:
        body.append(empty("No backtest yet, so the forecast has not been checked against real purchases."))
    else:
        first = validation.iloc[0]
        total = validation[validation["segment_name"] == "All customers"]
        if not total.empty:
            t = total.iloc[0]
            predicted, actual = charts.money(t["predicted_revenue"]), charts.money(t["actual_revenue"])
            body.append(
                f"<p>Fitted on the data up to {esc(first['cutoff_date'])}, the forecast expected "
                f"<b>{esc(predicted)}</b> over the next {esc(num(first['horizon_days']))} days; the "
                f"customers really spent <b>{esc(actual)}</b>: an error of "
                f"<b>{esc(pct(t['revenue_error_pct']))}</b> (negative = the forecast was too low).</p>"
            )
        if (validation["segment_name"] != "All customers").any():
            body.append(image(charts.validation_bars(validation, colours), "Predicted vs actual revenue"))
        columns = [
            ("Segment at the cutoff", lambda r: r["segment_name"], False),
            ("Customers", lambda r: num(r["customers"]), True),
            ("Predicted", lambda r: charts.money(r["predicted_revenue"]), True),
            ("Actual", lambda r: charts.money(r["actual_revenue"]), True),
            ("Error", lambda r: pct(r["revenue_error_pct"]), True),
            ("Predicted orders", lambda r: num(r["predicted_purchases"]), True),
            ("Actual orders", lambda r: num(r["actual_purchases"]), True),
        ]
        body.append(table(validation, columns, highlight=lambda r: r["segment_name"] == "All customers"))
    body.extend(coverage_block(data.interval_coverage))
    return section(
        "forecast",
        "The revenue each segment's customers are expected to bring (Pareto/NBD or BG/NBD × Gamma-Gamma, "
        "fitted on this run's data), each segment's chance to buy, and how both did when tried on the past, "
        "with the interval to read and how often it covered what happened.",
        body,
    )


def backtest_section(data: ReportData) -> str:
    backtest = data.backtest
    if backtest.empty:
        return section(
            "backtest",
            "",
            [empty("No backtest yet: the shop's history is shorter than the backtest horizon.")],
        )
    first = backtest.iloc[0]
    insiders = backtest[backtest["group_name"] == "insiders"]
    baselines = backtest[~backtest["group_name"].isin(["insiders", "oracle"])]
    text = ""
    if not insiders.empty and not baselines.empty:
        best = baselines.sort_values("share_of_future_revenue").iloc[-1]
        captured = pct(insiders.iloc[0]["share_of_future_revenue"])
        text = (
            f"<p>Segmented as of {esc(first['cutoff_date'])}, the {esc(num(first['group_size']))} Insiders "
            f"brought <b>{esc(captured)}</b> of the next {esc(num(first['horizon_days']))} days' revenue "
            f"(net of returns); the best baseline ({esc(best['group_label'])}) brought "
            f"{esc(pct(best['share_of_future_revenue']))}. {_backtest_verdict(first)}</p>"
        )
    columns: list[Column] = [
        ("Group", lambda r: r["group_label"] or r["group_name"], False),
        ("Customers", lambda r: num(r["customers"]), True),
        ("Revenue in the horizon", lambda r: charts.money(r["future_revenue"]), True),
        ("% of all revenue", lambda r: pct(r["share_of_future_revenue"]), True),
        ("Customers who bought", lambda r: num(r["future_buyers"]), True),
    ]
    return section(
        "backtest",
        "We went back in time: segmented the customers as of a past date, then measured what each group "
        "really spent afterwards, against groups of the same size picked by simpler rules.",
        [
            text,
            image(charts.backtest_bars(backtest), "Share of the following revenue captured per group"),
            table(backtest, columns, highlight=lambda r: r["group_name"] == "insiders"),
            f'<p class="note">{esc(num(first["customers_at_cutoff"]))} customers at the cutoff; backtest '
            f"{esc(first['backtest_id'])}. The oracle is the best any selection of that size could do.</p>",
        ],
    )


def next_steps_section(data: ReportData) -> str:
    """The distribution of the gaps to the nearest Insiders entry rule (marts.customer_next_steps)."""
    steps = data.next_steps
    if steps.empty:
        return section(
            "next-steps", "", [empty("No next steps: the current run has no Insiders entry rule.")]
        )
    gaps = steps.assign(
        revenue_gap=steps["revenue_gap"].astype(float), orders_gap=steps["orders_gap"].astype(int)
    )
    per_segment = (
        gaps.groupby("segment_name")
        .agg(
            customers=("customer_id", "size"),
            meets=("unmet_conditions", lambda u: int((u == 0).sum())),
            q1=("revenue_gap", lambda g: g.quantile(0.25)),
            median=("revenue_gap", "median"),
            q3=("revenue_gap", lambda g: g.quantile(0.75)),
            within_500=("revenue_gap", lambda g: float(((g > 0) & (g <= 500)).mean())),
            orders=("orders_gap", "median"),
            action=("recommended_action", "first"),
        )
        .reset_index()
        .sort_values("median")
    )
    rules = ", ".join(sorted({str(r) for r in gaps["nearest_rule_text"].dropna()}))
    columns: list[Column] = [
        ("Segment", lambda r: r["segment_name"], False),
        ("Customers", lambda r: num(r["customers"]), True),
        ("Meet a rule already", lambda r: num(r["meets"]), True),
        ("Revenue missing: quarter of them under", lambda r: charts.money(r["q1"]), True),
        ("half under", lambda r: charts.money(r["median"]), True),
        ("three quarters under", lambda r: charts.money(r["q3"]), True),
        ("Within GBP 500", lambda r: pct(r["within_500"]), True),
        ("Orders missing (median)", lambda r: num(r["orders"]), True),
        ("Recommended action", lambda r: r["action"] or "", False),
    ]
    return section(
        "next-steps",
        "For every customer who is not an Insider: the entry rule they are nearest to and what is missing "
        'to meet it (marts.customer_next_steps has one row per customer, e.g. "GBP 412 more revenue").',
        [
            f"<p>Entry rule(s) of this run: <b>{esc(rules or 'none')}</b>. The gaps are measured on the "
            "rules, which approximate the segment: a customer who meets a rule is not always an Insider "
            "yet.</p>",
            table(per_segment, columns),
        ],
    )


def _backtest_verdict(first) -> str:
    """The verdict dbt worded from the bootstrap interval; without one, no claim either way."""
    verdict = first.get("verdict")
    if verdict is None or pd.isna(verdict) or pd.isna(first.get("diff_ci_low")):
        return "This backtest has no interval: whether the gap is more than noise is not known."
    points = f"{first['difference_to_best_baseline'] * 100:+.1f} points"
    interval = f"{first['diff_ci_low'] * 100:+.1f} to {first['diff_ci_high'] * 100:+.1f}"
    sentence = esc(first["verdict_sentence"])
    return f"<b>{sentence}</b>: {esc(points)}, 95% bootstrap interval {esc(interval)} points."


def _parameters(run: dict) -> dict:
    value = run.get("parameters")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _as_list(value) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def selection_section(data: ReportData) -> str:
    run, candidates = data.run, data.candidates
    body = []
    if run:
        metrics = [
            ("Algorithm", run.get("algorithm")),
            ("Segments (k)", num(run.get("chosen_k"))),
            ("Customers", num(run.get("n_customers"))),
            ("Silhouette (−1…1, higher = better)", num(run.get("silhouette"), 3)),
            ("Davies-Bouldin (lower = better)", num(run.get("davies_bouldin"), 3)),
            ("Calinski-Harabasz (higher = better)", num(run.get("calinski_harabasz"), 0)),
            ("Rules agree with segments", pct(run.get("rules_fidelity"))),
            ("Agreement with the previous run (adjusted Rand index)", num(run.get("adjusted_rand_index"), 3)),
            ("Random seed", num(run.get("random_seed"))),
            ("Features", ", ".join(_as_list(run.get("features")))),
        ]
        frame = pd.DataFrame(metrics, columns=["metric", "value"])
        body.append(
            table(
                frame,
                [("Metric", lambda r: r["metric"], False), ("Value", lambda r: r["value"], False)],
                css_class="narrow",
            )
        )
    else:
        body.append(empty(f"Run {data.run_id} is not in segmentation_runs."))
    rule = _parameters(run).get("selection_rule") or {}
    band = k_band = None
    if {"k_min", "k_max", "insiders_share_min", "insiders_share_max"} <= rule.keys():
        band = (float(rule["insiders_share_min"]), float(rule["insiders_share_max"]))
        k_band = (int(rule["k_min"]), int(rule["k_max"]))
        body.append(
            f'<p class="note">Selection rule: tier 1 = k between {k_band[0]} and {k_band[1]}, no segment '
            f"under {esc(pct(rule.get('min_segment_share'), 0))} of customers and an Insiders segment of "
            f"{esc(pct(band[0], 0))} to {esc(pct(band[1], 0))} of customers; tier 2 = the same without the "
            f"Insiders condition; tier 3 = any. In the best tier with a candidate, the best silhouette wins; "
            f"candidates within {esc(rule.get('silhouette_tolerance', 0))} of it count as equal and the "
            f"smallest k wins, then k-means before the Gaussian mixture (gmm).</p>"
        )
    body.append("<h3>Every candidate scored</h3>")
    if candidates.empty:
        body.append(empty("No candidate scores stored for this run."))
    else:
        chart = charts.selection_lines(candidates, band, k_band)
        body.append(image(chart, "Candidate scores by number of segments"))
        columns: list[Column] = [
            ("Algorithm", lambda r: r["algorithm"], False),
            ("k", lambda r: num(r["k"]), True),
            ("Silhouette", lambda r: num(r["silhouette"], 3), True),
            ("Davies-Bouldin", lambda r: num(r["davies_bouldin"], 3), True),
            ("Calinski-Harabasz", lambda r: num(r["calinski_harabasz"]), True),
            ("BIC", lambda r: num(r["bic"]), True),
            ("Smallest segment", lambda r: pct(r["smallest_share"]), True),
            ("Insiders share", lambda r: pct(r["insiders_share"]), True),
            ("Insiders revenue", lambda r: pct(r["insiders_revenue_share"]), True),
            ("Tier", lambda r: num(r["selection_tier"]), True),
            ("Chosen", lambda r: "✓" if r["is_chosen"] else "", False),
        ]
        body.append(table(candidates, columns, highlight=lambda r: bool(r["is_chosen"]), css_class="compact"))
    return section(
        "model-selection",
        "For the data team: the candidate models this run compared and why this one was kept.",
        body,
    )


def changes_section(data: ReportData, colours: dict[str, str]) -> str:
    previous = data.previous_run_id
    if not previous or data.flows.empty:
        message = (
            "This is the first segmentation run: there is no previous run to compare with yet."
            if not previous
            else f"No comparison with the previous run ({previous}) is available."
        )
        return section("changes", "Who moved between segments since the previous run.", [empty(message)])
    flows, changes = data.flows, data.changes
    stayed = int(flows.loc[flows["change_type"] == "stayed", "customers"].sum())  # by segment id, in dbt
    counts = changes.groupby("change_type")["customers"].sum() if not changes.empty else pd.Series(dtype=int)
    cards = [
        (num(stayed), "stayed in their segment"),
        (num(counts.get("moved", 0)), "moved to another segment"),
        (num(counts.get("entered", 0)), "new customers"),
        (num(counts.get("left", 0)), "no longer segmented"),
        (num(changes["insider_entries"].sum() if not changes.empty else 0), "became Insiders"),
        (num(changes["insider_exits"].sum() if not changes.empty else 0), "stopped being Insiders"),
    ]
    body = [
        f'<p class="note">Compared with run {esc(previous)}.</p>',
        card_grid(cards),
        image(charts.flow_matrix(flows, list(colours)), "Customers per previous segment and segment now"),
    ]
    if changes.empty:
        body.append(empty("No customer changed segment."))
    else:
        columns: list[Column] = [
            ("Change", lambda r: r["change_type"], False),
            ("From", lambda r: r["from_segment"], False),
            ("To", lambda r: r["to_segment"], False),
            ("Customers", lambda r: num(r["customers"]), True),
            ("Became Insiders", lambda r: num(r["insider_entries"]), True),
            ("Stopped being Insiders", lambda r: num(r["insider_exits"]), True),
        ]
        body.append(table(changes, columns))
    return section("changes", "Who moved between segments since the previous run.", body)


def uplift_section(data: ReportData) -> str:
    return section(
        "uplift",
        "Does the programme work? Since its start, the revenue per customer of the Insiders it targets vs "
        "the control group held out of it, with the interval of the difference.",
        uplift_block(data.uplift),
    )
