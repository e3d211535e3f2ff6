"""The same shop rows in other export layouts, and already in the warehouse: each variant, run through
the whole cycle, gives a marts.customer_features identical to the default layout's on the same rows.

The variants are made from a sample of the shared file: the shipped Online Retail II layout (ISO dates,
`Price`, customer ids like 17850.0); a custom export (`;`, decimal comma, `dd.mm.yyyy HH:MM`, cp1252,
other header names, another column order); and a warehouse relation with typed and text columns.
"""

from __future__ import annotations

import csv
import gzip
import io
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from insiders import db
from insiders.cycle import run_cycle
from insiders.ingest import load_sources
from insiders.load import ensure_raw_schema
from tests.conftest import require_shared_file
from tests.helpers import cut_sample

SAMPLE_ROWS = 3_000  # one line in 150 of the shared file: ~1,300 customers over the whole year
DEFAULT_FORMAT = "%m/%d/%Y %H:%M"
NON_ASCII = "CAFÉ CRÈME SET €5"  # cp1252 has €, Latin-1 has not: the encoding setting matters

CUSTOM_LAYOUT = """
description: a German shop system's export
columns:
  country: Land
  customer_id: Kundennummer
  unit_price: Einzelpreis
  invoiced_at: Belegdatum
  quantity: Menge
  description: Bezeichnung
  stock_code: Artikel
  invoice_id: Beleg
delimiter: ";"
decimal: ","
thousands: "."
encoding: cp1252
date_format: "%d.%m.%Y %H:%M"
ignore_columns: [Filiale]
"""

RELATION_LAYOUT = """
description: order lines synced into the warehouse
source: {schema: shop, table: order_lines}
columns:
  line_id: order_line_id
  invoice_id: invoice
  stock_code: sku
  description: title
  quantity: qty
  invoiced_at: ordered_at
  unit_price: price
  customer_id: customer
  country: country
"""


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> list[dict[str, str]]:
    """The sample as dicts of the default layout's headers; a few descriptions made non-ASCII."""
    folder = tmp_path_factory.mktemp("variants")
    sample = cut_sample(require_shared_file(), folder / "sample.csv.gz", SAMPLE_ROWS, every=150)
    with gzip.open(sample, "rt", encoding="latin-1", newline="") as fh:
        found = list(csv.DictReader(fh))
    for row in found[::100]:
        row["Description"] = NON_ASCII
    return found


def _write(path: Path, header: list[str], records: list[list[str]], *, encoding: str, delimiter=","):
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(records)
    path.write_bytes(gzip.compress(buf.getvalue().encode(encoding)))
    return path


def default_export(rows, path: Path) -> Path:
    header = list(rows[0])
    return _write(path, header, [[r[h] for h in header] for r in rows], encoding="utf-8")


def online_retail_ii_export(rows, path: Path) -> Path:
    header = [
        "Invoice",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "Price",
        "Customer ID",
        "Country",
    ]
    records = [
        [
            r["InvoiceNo"], r["StockCode"], r["Description"], r["Quantity"],
            datetime.strptime(r["InvoiceDate"], DEFAULT_FORMAT).strftime("%Y-%m-%d %H:%M:%S"),
            r["UnitPrice"], f"{r['CustomerID']}.0" if r["CustomerID"] else "", r["Country"],
        ]
        for r in rows
    ]  # fmt: skip
    return _write(path, header, records, encoding="utf-8")


def _decimal_comma(number: str) -> str:
    whole, _, fraction = number.partition(".")
    sign = "-" if whole.startswith("-") else ""
    digits = whole.lstrip("-") or "0"
    grouped = f"{int(digits):,}".replace(",", ".")  # thousands dots: 1.234,5
    return sign + grouped + ("," + fraction if fraction else "")


def custom_export(rows, path: Path) -> Path:
    header = ["Land", "Kundennummer", "Filiale", "Einzelpreis", "Belegdatum", "Menge", "Bezeichnung",
              "Artikel", "Beleg"]  # fmt: skip
    records = [
        [
            r["Country"], r["CustomerID"], "Berlin", _decimal_comma(r["UnitPrice"]),
            datetime.strptime(r["InvoiceDate"], DEFAULT_FORMAT).strftime("%d.%m.%Y %H:%M"),
            _decimal_comma(r["Quantity"]), r["Description"], r["StockCode"], r["InvoiceNo"],
        ]
        for r in rows
    ]  # fmt: skip
    return _write(path, header, records, encoding="cp1252", delimiter=";")


TEXT_RELATION_LAYOUT = """
description: order lines synced as text, without a line key (they are numbered)
source: {schema: shop, table: order_lines}
columns: {invoice_id: invoice, stock_code: sku, description: title, quantity: qty, invoiced_at: ordered_at,
          unit_price: price, customer_id: customer, country: country}
decimal: ","
thousands: "."
date_format: "%d.%m.%Y %H:%M"
"""


def create_relation(url, rows, *, typed: bool, first_line_id: int = 1) -> None:
    """shop.order_lines with typed columns (integer, timestamp, numeric), or all text in the custom
    export's notation (decimal comma, dd.mm.yyyy dates); with first_line_id > 1, rows added to it."""
    types = ("integer", "timestamp", "numeric") if typed else ("text", "text", "text")
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        if first_line_id == 1:
            cur.execute(
                f"""create schema shop;
                   create table shop.order_lines (
                       order_line_id bigint primary key, invoice text, sku varchar(20), title text,
                       qty {types[0]}, ordered_at {types[1]}, price {types[2]}, customer text, country text)"""
            )
        buf = io.StringIO()
        writer = csv.writer(buf)
        for i, r in enumerate(rows, start=first_line_id):
            at = datetime.strptime(r["InvoiceDate"], DEFAULT_FORMAT)
            if typed:
                qty, when, price = r["Quantity"], at.isoformat(sep=" "), r["UnitPrice"]
            else:
                qty, when = _decimal_comma(r["Quantity"]), at.strftime("%d.%m.%Y %H:%M")
                price = _decimal_comma(r["UnitPrice"])
            writer.writerow([i, r["InvoiceNo"], r["StockCode"], r["Description"], qty, when, price,
                             r["CustomerID"] or None, r["Country"]])  # fmt: skip
        buf.seek(0)
        cur.copy_expert("copy shop.order_lines from stdin with (format csv)", buf)
        conn.commit()


FEATURES = "select * from marts.customer_features order by customer_id"
LINES = """select invoice_id, stock_code, description, quantity, unit_price, invoiced_at, customer_id, country,
                  is_cancellation, is_adjustment, is_guest, has_cast_error
           from staging.stg_shop__transactions order by 1, 2, 3, 4, 5, 6, 7, 8"""


def _query(url, sql):
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


@pytest.fixture(scope="module")
def reference(rows, tmp_path_factory, pg_admin_url):
    """The default layout's cycle on the sample: customer features and staged lines."""
    folder = tmp_path_factory.mktemp("reference")
    name = f"ref_{uuid.uuid4().hex[:8]}"
    db.ensure_database(pg_admin_url, name)
    url = pg_admin_url.set(database=name)
    from insiders.settings import Settings

    settings = Settings(
        database_url=url.render_as_string(hide_password=False), home=folder / "home",
        dbt_target_path=folder / "target", artifact_dir=folder / "artifacts", report_dir=folder / "reports",
        bi_role=f"bi_{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    outcome = run_cycle(settings, [str(default_export(rows, folder / "default.csv.gz"))])
    assert outcome.exit_code == 0
    yield _query(url, FEATURES), _query(url, LINES)
    with db.raw_connection(pg_admin_url) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')


def _cycle_settings(make_database, settings_for, **overrides):
    url = make_database("variant")
    return url, settings_for(url, bi_role=f"bi_{uuid.uuid4().hex[:8]}", **overrides)


def test_the_default_layout_reads_every_line_of_the_sample(reference, rows):
    features, lines = reference
    assert len(lines) == len(rows) and not any(line[-1] for line in lines)  # no cast error
    assert any(line[2] == NON_ASCII for line in lines)
    assert len(features) > 1_000


@pytest.mark.parametrize("variant", ["online_retail_ii", "custom"])
def test_an_export_in_another_layout_gives_the_same_customer_features(
    variant, rows, reference, make_database, settings_for, tmp_path
):
    if variant == "online_retail_ii":
        layout, export = "online_retail_ii", online_retail_ii_export(rows, tmp_path / "ii.csv.gz")
    else:
        layout = str(tmp_path / "german_shop.yml")
        Path(layout).write_text(CUSTOM_LAYOUT)
        export = custom_export(rows, tmp_path / "export.csv.gz")
    url, settings = _cycle_settings(make_database, settings_for, layout=layout)
    outcome = run_cycle(settings, [str(export)])
    assert outcome.exit_code == 0
    assert [(r.status, r.rows_loaded, r.rows_rejected) for r in outcome.loads] == [("loaded", len(rows), 0)]
    features, lines = reference
    assert _query(url, LINES) == lines
    assert _query(url, FEATURES) == features
    [(name, encoding)] = _query(url, "select layout_name, encoding from raw.files")
    assert (name, encoding) == (Path(layout).stem, "cp1252" if variant == "custom" else "utf-8")


@pytest.mark.parametrize("typed", [True, False], ids=["typed", "text"])
def test_order_lines_already_in_the_warehouse_give_the_same_customer_features(
    typed, rows, reference, make_database, settings_for, tmp_path
):
    layout = tmp_path / "warehouse.yml"
    layout.write_text(RELATION_LAYOUT if typed else TEXT_RELATION_LAYOUT)
    url, settings = _cycle_settings(make_database, settings_for, layout=str(layout))
    create_relation(url, rows, typed=typed)
    outcome = run_cycle(settings, [])
    assert outcome.exit_code == 0 and outcome.loads == []
    assert _query(url, "select count(*) from raw.transactions") == [(0,)]  # nothing copied into raw
    features, lines = reference
    assert _query(url, LINES) == lines
    assert _query(url, FEATURES) == features
    assert _query(url, "select count(*) from marts.segment_summary")[0][0] >= 3
    [(uri, name)] = _query(url, "select source_uri, layout_name from raw.files")
    assert (uri, name) == ("warehouse:shop.order_lines", "warehouse")
    # a second cycle reuses the registration and still reads the relation
    assert run_cycle(settings, []).exit_code == 0
    assert _query(url, "select count(*) from raw.files") == [(1,)]


def test_rows_the_warehouse_relation_gains_reach_the_next_cycle(
    rows, reference, make_database, settings_for, tmp_path
):
    """The relation has one file id however it grows: the cycle rebuilds the incremental models from
    it, so a cycle after the relation gained rows equals a cycle on all of them."""
    layout = tmp_path / "warehouse.yml"
    layout.write_text(RELATION_LAYOUT)
    url, settings = _cycle_settings(make_database, settings_for, layout=str(layout))
    half = len(rows) // 2
    create_relation(url, rows[:half], typed=True)
    assert run_cycle(settings, []).exit_code == 0
    create_relation(url, rows[half:], typed=True, first_line_id=half + 1)
    assert run_cycle(settings, []).exit_code == 0
    features, lines = reference
    assert _query(url, LINES) == lines
    assert _query(url, FEATURES) == features


def test_two_files_of_different_layouts_in_one_database_are_each_cast_by_their_own(
    rows, reference, make_database, settings_for, tmp_path
):
    """Half the rows in the default layout, half in the custom one: staged like the reference."""
    layout = tmp_path / "german_shop.yml"
    layout.write_text(CUSTOM_LAYOUT)
    url, settings = _cycle_settings(make_database, settings_for)
    half = len(rows) // 2
    first = default_export(rows[:half], tmp_path / "first.csv.gz")
    second = custom_export(rows[half:], tmp_path / "second.csv.gz")
    load_sources(url, [str(first)], settings)
    load_sources(url, [str(second)], settings.model_copy(update={"layout": str(layout)}))
    outcome = run_cycle(settings, [])
    assert outcome.exit_code == 0
    features, lines = reference
    assert _query(url, LINES) == lines
    assert _query(url, FEATURES) == features
    assert _query(url, "select layout_name from raw.files order by file_id") == [
        ("online_retail",), ("german_shop",),
    ]  # fmt: skip


def test_a_value_that_does_not_parse_under_its_layout_is_a_counted_cast_error(
    make_database, settings_for, tmp_path
):
    layout = tmp_path / "german_shop.yml"
    layout.write_text(CUSTOM_LAYOUT)
    url, settings = _cycle_settings(make_database, settings_for, layout=str(layout))
    lines = [
        "Land;Kundennummer;Filiale;Einzelpreis;Belegdatum;Menge;Bezeichnung;Artikel;Beleg",
        "Germany;12345;Berlin;2,55;01.12.2010 08:26;6;TASSE;85123A;536365",
        "Germany;12345;Berlin;2.55;12/1/2010 8:26;6;TASSE;85123A;536366",  # default-layout values
        "Germany;12345;Berlin;2,5,5;31.02.2011 08:26;sechs;TASSE;85123A;536367",
    ]
    path = tmp_path / "mixed.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    with db.raw_connection(url) as conn:
        ensure_raw_schema(conn)
    assert [r.rows_loaded for r in load_sources(url, [str(path)], settings)] == [3]
    from insiders.dbt import run_dbt

    run_dbt(["run", "--select", "stg_shop__transactions"], url, settings, quiet=True)
    got = _query(
        url,
        "select invoice_id, unit_price, cast_error_columns from staging.stg_shop__transactions order by 1",
    )
    # "2.55" under thousands "." is 255 (as the shop system would read it); the default date is not
    assert [(g[0], g[1], g[2]) for g in got] == [
        ("536365", Decimal("2.55"), None),
        ("536366", 255, "invoice_date"),
        ("536367", None, "quantity, unit_price, invoice_date"),
    ]
