"""The report's calibration and uplift blocks, on the tiny marts and on missing marts."""

from __future__ import annotations

import pandas as pd

from insiders.report import load_report_data, render, trust
from insiders.report.trust import calibration_block, skill_words, uplift_block
from tests.insiders.report.test_report import section_text


def test_forecast_section_shows_the_calibration_of_the_chosen_model(marts):
    html = render(load_report_data(marts))
    forecast = section_text(html, "forecast")
    assert "logistic (recency, frequency, age)" in forecast
    assert "Brier skill <b>0.15</b>" in forecast and "clearly better than quoting" in forecast
    assert "off by at most <b>13</b> percentage points" in forecast
    assert "level with each other" in forecast  # BG/NBD and Pareto/NBD within 0.002 of Brier score
    assert "ignores seasonality" in forecast
    assert "Chance to buy in 90 days" in forecast and "50.0%" in forecast


def test_forecast_section_shows_the_revenue_interval_and_says_it_ignores_seasonality(marts):
    forecast = section_text(render(load_report_data(marts)), "forecast")
    assert "This forecast ignores seasonality" in forecast
    assert "last year brought £7,777" in forecast
    assert "its interval missed what happened" in forecast and "-25.0%" in forecast


def test_uplift_section_words_the_result_from_the_interval(marts):
    uplift = section_text(render(load_report_data(marts)), "uplift")
    assert "level with the control group" in uplift and "beat" not in uplift
    assert "8 treated Insiders and 2 in the held-out control group" in uplift
    assert "4 times out of 5" in uplift


def test_before_the_start_and_without_marts():
    before = pd.DataFrame(
        [{"is_started": False, "verdict": "the programme starts on 2011-12-10: nothing to measure yet",
          "treated_customers": 427, "control_customers": 94}]
    )  # fmt: skip
    [text] = uplift_block(before)
    assert "The programme starts on 2011-12-10" in text and "94 in the held-out control group" in text
    assert "No programme_uplift mart" in uplift_block(pd.DataFrame())[0]
    assert "No holdout check yet" in "".join(calibration_block(pd.DataFrame()))


def test_missing_trust_marts_read_as_empty(pg_conn):
    assert trust.forecast_calibration(pg_conn).empty
    assert list(trust.programme_uplift(pg_conn).columns) == list(trust.UPLIFT_COLUMNS)


def test_skill_words():
    assert skill_words(0.0).startswith("no better")
    assert skill_words(0.05).startswith("a little better")
    assert skill_words(0.15).startswith("clearly better")
    assert skill_words(float("nan")).startswith("no better")


def test_backtest_calibration_block_words_the_latest_cutoffs_skill_and_worst_gap():
    from insiders.report.trust import backtest_calibration_block

    rows = [
        {
            "cutoff_date": cutoff,
            "horizon_days": 91,
            "decile": d,
            "customers": 10,
            "mean_predicted": d / 10,
            "actual_share": d / 10 + 0.05,
            "gap": -0.05,
            "worst_decile_gap": worst,
            "cutoff_customers": 100,
            "base_rate": 0.57,
            "brier_score": 0.2178,
            "base_rate_brier_score": 0.245,
            "brier_skill": skill,
        }  # fmt: skip
        for cutoff, skill, worst in (("2011-09-09", 0.11, 0.159), ("2011-06-10", 0.19, 0.07))
        for d in range(1, 11)
    ]
    html = "".join(backtest_calibration_block(pd.DataFrame(rows)))
    assert "At 2 backtest cutoff(s)" in html and "2011-09-09 (91 days)" in html
    assert "Brier skill <b>0.11</b>" in html and "at most <b>16</b> percentage points" in html
    assert html.count("<tr") == 3  # header + one row per cutoff
    assert "No backtest with per-customer predictions yet" in "".join(
        backtest_calibration_block(pd.DataFrame())
    )
