"""The report on a tiny marts schema: build a database, write the report, read the HTML."""

from __future__ import annotations

import base64
import re

import psycopg2
import pytest

from insiders.errors import UserError
from insiders.report import SECTIONS, load_report_data, report_filename, write_report
from insiders.report import data as report_data
from insiders.report.charts import money, png_size
from tests.insiders.report import tiny_marts
from tests.insiders.report.browser import external_references, section_ids

PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def section_text(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, flags=re.DOTALL)
    assert match, f"no section {section_id}"
    return match.group(1)


def test_write_report_writes_one_self_contained_file(marts, tmp_path):
    path = write_report(marts, tmp_path / "reports")

    assert path == tmp_path / "reports" / f"insiders-report-{tiny_marts.RUN}.html"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind
    html = path.read_text(encoding="utf-8")
    assert section_ids(html) == list(SECTIONS)
    assert external_references(html) == []
    assert "<script" not in html.replace("&lt;script", "")
    images = PNG.findall(html)
    assert (
        len(images) == 9
    )  # shares, profile, map, forecast, calibration, holdout, backtest, selection, flows
    for encoded in images:
        png = base64.b64decode(encoded, validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        width, height = png_size(png)
        assert width > 300 and height > 100


def test_report_shows_the_numbers_of_the_marts(marts, tmp_path):
    html = write_report(marts, tmp_path).read_text(encoding="utf-8")

    assert "60</div>" in section_text(html, "summary")  # customers segmented
    assert "gross_revenue &gt; 2,000.00 and recency_days &lt;= 40" in section_text(html, "rules")
    backtest = section_text(html, "backtest")
    assert "55.0%" in backtest and "level with the best baseline" in backtest and "beat" not in backtest
    assert "-1.0 to +11.0 points" in backtest  # the interval the verdict is worded from
    assert "bt-new" in backtest and "bt-old" not in backtest  # the latest backtest only
    steps = section_text(html, "next-steps")
    assert "gross_revenue &gt; 2,000.00" in steps and "Win back" in steps
    assert "50.0%" in steps  # Promising: 300 and 400 of its four gaps (0, 300, 400, 1,200) within GBP 500
    forecast = section_text(html, "forecast")
    assert "-19.1%" in forecast  # All customers: (890 - 1100) / 1100
    selection = section_text(html, "model-selection")
    assert selection.count("<tr") == 10 + 1 + 10 + 1  # metrics (+ header), candidates (+ header)
    changes = section_text(html, "changes")
    assert tiny_marts.PREVIOUS_RUN in changes
    assert re.search(r">55</div><div class=\"label\">stayed", changes)
    assert re.search(r">1</div><div class=\"label\">stopped being Insiders", changes)


def test_values_from_the_database_are_escaped(marts, tmp_path):
    html = write_report(marts, tmp_path).read_text(encoding="utf-8")

    assert tiny_marts.HOSTILE_ACTION not in html
    assert "Send &lt;b&gt;&quot;gifts&quot;&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_first_run_has_no_previous_run_to_compare(first_run_marts, tmp_path):
    path = write_report(first_run_marts, tmp_path)
    html = path.read_text(encoding="utf-8")

    assert section_ids(html) == list(SECTIONS)
    assert "first segmentation run" in section_text(html, "changes")
    assert "none (first run)" in section_text(html, "summary")
    assert "No backtest yet" in section_text(html, "backtest")
    assert "No candidate scores" in section_text(html, "model-selection")
    assert len(PNG.findall(html)) == 4  # shares, profile, map, forecast: nothing to draw for the rest


def test_missing_tables_read_as_empty(pg_conn):
    with pg_conn.cursor() as cur:
        cur.execute("create schema marts")
    assert report_data.latest_backtest(pg_conn).empty
    assert list(report_data.latest_backtest(pg_conn).columns) == list(report_data.BACKTEST_COLUMNS)
    assert report_data.segmentation_candidates(pg_conn, "r", ml_schema="ml").empty
    assert report_data.membership_changes(pg_conn).empty


def test_no_segmentation_yet_is_a_user_error(pg_conn, tmp_path):
    with pytest.raises(UserError, match="insiders run"):
        write_report(pg_conn, tmp_path)
    assert not list(tmp_path.iterdir())


def test_data_of_the_current_run(marts):
    data = load_report_data(marts)

    assert data.run_id == tiny_marts.RUN
    assert data.previous_run_id == tiny_marts.PREVIOUS_RUN
    assert len(data.customers) == 60 and data.customers["gross_revenue"].dtype == float
    assert set(data.backtest["backtest_id"]) == {"bt-new"}
    assert data.backtest["group_name"].tolist() == ["insiders", "top_past_revenue", "top_rfm", "oracle"]
    assert data.validation["segment_name"].iloc[-1] == "All customers"
    assert len(data.candidates) == 10 and data.candidates["is_chosen"].sum() == 1
    changes = data.changes.set_index("change_type")["customers"].groupby(level=0).sum()
    assert changes.to_dict() == {"entered": 1, "left": 1, "moved": 2}
    assert data.changes["insider_exits"].sum() == 1


def test_reading_ends_its_own_transaction_but_not_the_callers(marts):
    load_report_data(marts)
    assert marts.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE

    with marts.cursor() as cur:
        cur.execute("create table scratch (x int)")
        cur.execute("insert into scratch values (1)")
    load_report_data(marts)  # inside the caller's transaction: must not roll it back
    marts.commit()
    with marts.cursor() as cur:
        cur.execute("select count(*) from scratch")
        assert cur.fetchone()[0] == 1


def test_the_current_run_is_the_one_dbt_marks_current(marts):
    assert report_data.current_run_id(marts) == tiny_marts.RUN
    with marts.cursor() as cur:
        cur.execute("update marts.segmentation_runs set is_current = false")
    with pytest.raises(UserError, match="no current segmentation run"):
        report_data.current_run_id(marts)


def test_report_filename_is_safe():
    assert report_filename("20240102T000000Z-ab12") == "insiders-report-20240102T000000Z-ab12.html"
    assert report_filename("../x y") == "insiders-report-.._x_y.html"


def test_money():
    assert [money(v) for v in (0, 999.4, 12_345, 1_350_000, None)] == ["£0", "£999", "£12k", "£1.35M", "–"]
