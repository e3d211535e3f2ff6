"""Layout files: the shipped ones validate, strptime formats become the patterns staging reads, and a
bad layout file is one clear line with exit code 2 (from `insiders load` and `insiders run`)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from insiders.cli import app
from insiders.layouts import LAYOUTS_DIR, LayoutError, date_pattern, load_layout
from tests.helpers import HEADER, write_export

# bad layout files, written to a temp folder by the tests (dbt would parse .yml files under tests/)
BAD_FILES = {
    "bad_date_format.yml": 'columns: {invoice_id: InvoiceNo, stock_code: StockCode, description: Description, quantity: Quantity,\n          invoiced_at: InvoiceDate, unit_price: UnitPrice, customer_id: CustomerID, country: Country}\ndate_format: "%d.%m.%Y %H:%M %z"\n',
    "bad_decimal.yml": 'columns: {invoice_id: InvoiceNo, stock_code: StockCode, description: Description, quantity: Quantity,\n          invoiced_at: InvoiceDate, unit_price: UnitPrice, customer_id: CustomerID, country: Country}\ndecimal: ";"\n',
    "bad_encoding.yml": "columns: {invoice_id: InvoiceNo, stock_code: StockCode, description: Description, quantity: Quantity,\n          invoiced_at: InvoiceDate, unit_price: UnitPrice, customer_id: CustomerID, country: Country}\nencoding: klingon-8\n",
    "missing_column.yml": "columns: {invoice_id: InvoiceNo, stock_code: StockCode, description: Description, quantity: Quantity,\n          invoiced_at: InvoiceDate, customer_id: CustomerID, country: Country}\n",
    "not_yaml.yml": "columns: {invoice_id: InvoiceNo, stock_code: [\n",
    "unknown_key.yml": 'columns: {invoice_id: InvoiceNo, stock_code: StockCode, description: Description, quantity: Quantity,\n          invoiced_at: InvoiceDate, unit_price: UnitPrice, customer_id: CustomerID, country: Country}\ndelimeter: ";"\n',
    "unknown_standard_column.yml": "columns: {invoice_id: InvoiceNo, stock_code: StockCode, description: Description, quantity: Quantity,\n          invoiced_at: InvoiceDate, unit_price: UnitPrice, customer_id: CustomerID, country: Country,\n          channel: Channel}\n",
}

# bad layout file → words its one-line error must contain
BAD = {
    "unknown_key.yml": "unknown key 'delimeter'",
    "missing_column.yml": "missing required column(s) unit_price",
    "bad_date_format.yml": "date_format: %z is not supported",
    "bad_encoding.yml": "unknown encoding 'klingon-8'",
    "bad_decimal.yml": "decimal: Input should be '.' or ','",
    "not_yaml.yml": "not valid YAML",
    "unknown_standard_column.yml": "unknown standard column(s) channel",
}


def test_the_shipped_layouts_validate_and_the_default_is_online_retail():
    names = sorted(p.stem for p in LAYOUTS_DIR.glob("*.yml"))
    assert {"online_retail", "online_retail_ii"} <= set(names)
    for name in names:
        assert load_layout(name).name == name
    default = load_layout()
    assert default.name == "online_retail"
    assert ",".join(default.columns.values()) == HEADER
    assert load_layout(str(LAYOUTS_DIR / "online_retail_ii.yml")).columns["customer_id"] == "Customer ID"


SAMPLES = {
    "%m/%d/%Y %H:%M": ["12/1/2010 8:26", "02/29/2012 23:59", "1/31/2011 0:00"],
    "%Y-%m-%d %H:%M:%S": ["2010-12-01 08:26:00", "2011-12-09 12:50:59"],
    "%d.%m.%Y %H:%M": ["01.12.2010 08:26", "9.1.2011 7:05"],
    "%d-%b-%y %I:%M %p": ["01-Dec-10 08:26 PM", "15-jan-11 12:05 am", "03-Mar-99 11:00 AM"],
    "%Y%m%d": ["20101201"],
    "%d %B %Y": ["1 December 2010", "28 February 2011"],
}


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_a_date_pattern_cuts_out_the_parts_strptime_reads(fmt):
    pattern = date_pattern(fmt)
    for text in SAMPLES[fmt]:
        match = re.match(pattern.regex, text)
        assert match, (fmt, text)
        parts = {k: match.group(v) for k, v in pattern.groups.items()}
        year = int(parts["year"])
        if pattern.is_two_digit_year:
            year += 2000 if year < 69 else 1900
        month = (
            datetime.strptime(parts["month"][:3], "%b").month
            if pattern.is_month_name
            else int(parts["month"])
        )
        hour = int(parts.get("hour", 0))
        if "ampm" in parts:
            hour = hour % 12 + (12 if parts["ampm"].lower() == "pm" else 0)
        minute, second = int(parts.get("minute", 0)), int(parts.get("second", 0))
        got = datetime(year, month, int(parts["day"]), hour, minute, second)
        assert got == datetime.strptime(text, fmt), (fmt, text)


def test_a_date_pattern_refuses_what_strptime_would():
    assert not re.match(date_pattern("%m/%d/%Y %H:%M").regex, "2010-12-01 08:26:00")
    with pytest.raises(ValueError, match="%I .* and %p"):
        date_pattern("%d/%m/%Y %I:%M")
    with pytest.raises(ValueError, match="no day"):
        date_pattern("%m/%Y")


@pytest.fixture
def bad_layouts(tmp_path) -> Path:
    folder = tmp_path / "layouts"
    folder.mkdir()
    for name, text in BAD_FILES.items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_layout_file_is_one_clear_line(name, bad_layouts):
    with pytest.raises(LayoutError) as info:
        load_layout(str(bad_layouts / name))
    message = str(info.value)
    assert BAD[name] in message, message
    assert "\n" not in message and name in message


@pytest.mark.parametrize("command", ["load", "run"])
@pytest.mark.parametrize("name", sorted(BAD))
def test_the_cli_refuses_a_bad_layout_with_exit_2(command, name, bad_layouts, tmp_path, monkeypatch):
    export = write_export(tmp_path / "a.csv", [HEADER])
    monkeypatch.setenv("INSIDERS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/never_reached")
    monkeypatch.setenv("INSIDERS_HOME", str(tmp_path))
    result = CliRunner().invoke(app, [command, "--layout", str(bad_layouts / name), str(export)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: layout "), result.output
    assert BAD[name] in lines[0]
    assert "Traceback" not in result.output


def test_an_unknown_layout_name_lists_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIDERS_LAYOUT", "online_retail_iii")
    monkeypatch.setenv("INSIDERS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/never_reached")
    result = CliRunner().invoke(app, ["load", str(tmp_path)])
    assert result.exit_code == 2
    assert "layout 'online_retail_iii' not found" in result.output
    assert "online_retail, online_retail_ii" in result.output
