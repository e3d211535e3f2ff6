"""The tiny marts' report (with a previous run, so every chart is drawn) in headless Chromium."""

from __future__ import annotations

from insiders.report import SECTIONS, write_report
from tests.insiders.report.browser import assert_renders_cleanly, require_chromium


def test_tiny_report_renders_in_chromium(marts, tmp_path):
    chromium = require_chromium()
    page = write_report(marts, tmp_path / "reports")

    found = assert_renders_cleanly(chromium, page, tmp_path, list(SECTIONS))

    assert found.images == 9  # the 8 charts and the calibration plot
    assert found.height > 3000  # laid out as a long page at 1280 px, not collapsed
