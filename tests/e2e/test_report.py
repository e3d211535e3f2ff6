"""The report of the whole cycle on the real data, opened in headless Chromium.

The browser check (tests/insiders/report/browser.py) reads Chromium's stderr for console messages and
uncaught exceptions, the DOM after load for the sections, and a probe copy of the page for images
that did not render. The last tests feed it broken pages, to show that each part of it can fail.
"""

from __future__ import annotations

import re

import pytest

from insiders import db
from insiders.report import SECTIONS, report_filename, write_report
from tests.insiders.report.browser import (
    assert_renders_cleanly,
    dump_dom,
    external_references,
    probe,
    require_chromium,
    screenshot,
)

MAX_SCREENSHOT_HEIGHT = 16000


@pytest.fixture(scope="module")
def report(full_cycle):
    with db.raw_connection(full_cycle.url) as conn:
        return write_report(conn, full_cycle.settings.report_dir)


def test_report_is_named_after_the_run(full_cycle, report):
    run_id = full_cycle.outcome.segmentation.run_id
    assert report == full_cycle.settings.report_dir / report_filename(run_id)
    html = report.read_text(encoding="utf-8")
    assert run_id in html
    assert external_references(html) == []


def test_report_shows_the_published_numbers(full_cycle, report):
    html = report.read_text(encoding="utf-8")
    [(customers, insiders)] = full_cycle.query(
        "select count(*), count(*) filter (where is_insider) from marts.customer_segments"
    )
    [(rules,)] = full_cycle.query("select count(*) from marts.insider_rules")
    [(backtest_id,)] = full_cycle.query(
        "select distinct backtest_id from marts.backtest_results where is_latest"
    )

    assert f">{customers:,}</div>" in html and f">{insiders:,}</div>" in html
    rules_section = re.search(r'<section id="rules">(.*?)</section>', html, flags=re.DOTALL).group(1)
    assert rules_section.count("<tr") == rules + 1
    assert backtest_id in html
    # the cycle's database starts empty: this is its first run
    assert "This is the first segmentation run" in html


def test_report_renders_in_chromium(full_cycle, report, tmp_path):
    chromium = require_chromium()

    found = assert_renders_cleanly(chromium, report, tmp_path, list(SECTIONS))

    assert found.images == 9  # every chart (with both calibration plots) but the flows of a previous run
    png = report.with_suffix(".png")
    screenshot(chromium, report, png, height=min(found.height, MAX_SCREENSHOT_HEIGHT))
    assert png.stat().st_size > 50_000
    print(f"\nreport: {report}\nscreenshot: {png}")


# ------------------------------------------------------------------ the check can fail
def test_console_errors_are_caught(tmp_path):
    chromium = require_chromium()
    page = tmp_path / "throws.html"
    page.write_text(
        '<!DOCTYPE html><html><head><title>x</title></head><body><section id="summary">x</section>'
        '<script>throw new Error("deliberate failure")</script></body></html>'
    )

    result = dump_dom(chromium, page)
    assert any("deliberate failure" in line for line in result.console), result.stderr[-2000:]
    with pytest.raises(AssertionError, match="deliberate failure"):
        assert_renders_cleanly(chromium, page, tmp_path, ["summary"])


def test_broken_images_are_caught(tmp_path):
    chromium = require_chromium()
    page = tmp_path / "broken-image.html"
    page.write_text(
        '<!DOCTYPE html><html><head><title>x</title></head><body><section id="summary">'
        '<img alt="fine" src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7">'
        '<img alt="not a picture" src="data:image/png;base64,AAAAAAAA"></section></body></html>'
    )

    assert dump_dom(chromium, page).console == []  # a broken image alone says nothing on the console...
    found = probe(chromium, page, tmp_path)  # ...the probe does
    assert (found.images, found.broken_images) == (2, 1)
    assert any("not a picture" in line for line in found.run.console)
    with pytest.raises(AssertionError, match="not a picture"):
        assert_renders_cleanly(chromium, page, tmp_path, ["summary"])


def test_missing_sections_are_caught(tmp_path):
    chromium = require_chromium()
    page = tmp_path / "short.html"
    page.write_text(
        '<!DOCTYPE html><html><head><title>x</title></head><body><section id="summary">x</section>'
    )

    with pytest.raises(AssertionError):
        assert_renders_cleanly(chromium, page, tmp_path, list(SECTIONS))


def test_external_resources_are_caught():
    html = (
        '<link rel="stylesheet" href="https://cdn.example.com/x.css"><img src="data:image/png;base64,AA">'
        '<a href="#rules">rules</a><style>@font-face { src: url(https://fonts.example.com/f.woff2) }</style>'
    )
    assert len(external_references(html)) == 2
