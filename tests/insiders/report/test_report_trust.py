"""The report's calibration and uplift blocks, on the tiny marts and on missing marts."""

from __future__ import annotations

import html

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
    forecast = html.unescape(section_text(render(load_report_data(marts)), "forecast"))
    assert "This forecast ignores seasonality" in forecast
    assert "last year brought £7,777" in forecast
    assert "the model's interval missed what happened" in forecast and "-25.0%" in forecast
    assert "the data hold 5 months of history before 2024-01-02 (180 days)" in forecast


def test_forecast_section_reads_the_widened_interval_and_its_coverage(marts):
    forecast = html.unescape(section_text(render(load_report_data(marts)), "forecast"))
    # the total's interval to read is the widened one, with the model's beside it
    assert (
        "The 95% interval to read runs from £14k to £25k: the model's own interval (£14k to £17k" in forecast
    )
    assert "widened by the errors of 2 earlier backtest(s), which were off by -30.0% to -10.0%" in forecast
    assert "the model's interval alone covered what happened none; the band, at the 2 of them" in forecast
    assert "known before that cutoff), once." in forecast
    assert "The segments' intervals are the model's alone" in forecast
    # per cutoff: June's band covered, September's missed with no year before the cutoff
    assert "The model's interval alone covered it none; the error band, at the 2 cutoff(s)" in forecast
    assert (
        "At 2011-09-10 the band missed too: the 91 days after the cutoff (September to December)" in forecast
    )
    assert "At 2011-06-11 the band missed" not in forecast


def _total(**overrides) -> pd.Series:
    row = {
        "segment_name": "All customers", "as_of_date": "2011-03-11", "horizon_days": 90,
        "predicted_revenue": 1000.0, "revenue_low": 900.0, "revenue_high": 1100.0, "model_revenue_low": 900.0,
        "model_revenue_high": 1100.0, "band_backtests": 0, "is_interval_validated": False,
        "band_smallest_error_pct": None, "band_largest_error_pct": None, "backtest_cutoffs_checked": 0,
        "model_cutoffs_covered": 0, "band_cutoffs_checked": 0, "band_cutoffs_covered": 0, "history_days": 100, "is_seasonal": False,
        "same_period_last_year_revenue": None,
    }  # fmt: skip
    return pd.Series({**row, **overrides})


def test_interval_words_follow_the_band():
    alone = trust.interval_words(_total())
    assert "the model's alone" in alone and "not validated" in alone and "2011-03-11" in alone
    assert "widened" not in alone
    widened = trust.interval_words(
        _total(revenue_high=1800.0, band_backtests=3, is_interval_validated=True, band_smallest_error_pct=-0.39,
               band_largest_error_pct=-0.07, backtest_cutoffs_checked=4, model_cutoffs_covered=1,
               band_cutoffs_checked=3, band_cutoffs_covered=2)
    )  # fmt: skip
    assert (
        "The 95% interval to read runs from £900 to £1,800: the model's own interval (£900 to £1,100"
        in widened
    )
    assert "3 earlier backtest(s), which were off by -39.0% to -7.0%" in widened
    assert (
        "At the 4 backtest cutoff(s) whose horizon has ended, the model's interval alone covered" in widened
    )
    assert "happened once; the band, at the 3 of them with an earlier backtest" in widened
    assert "that cutoff), 2 times." in widened
    assert "not validated" not in widened


def test_seasonality_words_follow_the_history():
    short = trust.seasonality_words(_total(history_days=274))
    assert "the data hold 9 months of history before 2011-03-11 (274 days)" in short
    assert "needs 13 months or more" in short and "do not reach back to the same period last year" in short
    year = trust.seasonality_words(_total(history_days=374, same_period_last_year_revenue=700.0))
    assert (
        "12 months of history" in year
        and "brought £700 (all customers of the time; below the interval)" in year
    )
    assert "inside the interval" in trust.seasonality_words(_total(same_period_last_year_revenue=1000.0))
    assert "needs 13 months of history or more" in trust.seasonality_words(_total(history_days=None))


def test_coverage_block_says_why_a_band_missed():
    rows = pd.DataFrame(
        [
            {"cutoff_date": "2011-03-11", "horizon_days": 91, "predicted_revenue": 1.05e6, "actual_revenue": 1.18e6,
             "revenue_error_pct": -0.104, "predicted_revenue_low": 9.5e5, "predicted_revenue_high": 1.18e6,
             "is_covered_by_model_interval": True, "earlier_backtests": 0, "band_revenue_low": 9.5e5,
             "band_revenue_high": 1.18e6, "is_covered_by_error_band": True, "has_year_before_cutoff": False},
            {"cutoff_date": "2012-09-09", "horizon_days": 91, "predicted_revenue": 1.5e6, "actual_revenue": 2.5e6,
             "revenue_error_pct": -0.4, "predicted_revenue_low": 1.4e6, "predicted_revenue_high": 1.6e6,
             "is_covered_by_model_interval": False, "earlier_backtests": 4, "band_revenue_low": 1.4e6,
             "band_revenue_high": 1.9e6, "is_covered_by_error_band": False, "has_year_before_cutoff": True},
        ]
    )  # fmt: skip
    text = html.unescape("".join(trust.coverage_block(rows)))
    assert "The model's interval alone covered it once; the error band, at the 1 cutoff(s)" in text
    assert "At 2012-09-09 the band missed: the error was larger than any earlier backtest's" in text
    assert "no earlier year" not in text
    assert "No backtest yet" in "".join(
        trust.coverage_block(pd.DataFrame(columns=list(trust.COVERAGE_COLUMNS)))
    )


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
