"""The building blocks of the report page: the inline stylesheet, number formats, escaped tables,
key-figure cards and images as base64 PNG. Every value that comes from the database goes through
``esc`` (tables and cards escape their cells themselves).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape

import pandas as pd

from insiders.report import charts

CSS = """
:root { --ink: #1f2933; --soft: #52606d; --line: #e4e7eb; --band: #f5f7fa; --accent: #6a3d9a; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.5;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: var(--accent); color: #fff; padding: 28px 0 22px; }
header h1 { margin: 0 0 4px; font-size: 28px; }
header p { margin: 0; opacity: .9; }
.wrap { max-width: 1120px; margin: 0 auto; padding: 0 28px; }
nav { border-bottom: 1px solid var(--line); background: var(--band); padding: 10px 0; font-size: 14px; }
nav .wrap { display: flex; flex-wrap: wrap; gap: 4px 20px; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
nav a:hover { text-decoration: underline; }
section { padding: 26px 0 10px; border-bottom: 1px solid var(--line); }
h2 { font-size: 21px; margin: 0 0 6px; }
h3 { font-size: 16px; margin: 22px 0 6px; }
p.lead { color: var(--soft); margin: 0 0 14px; max-width: 860px; }
p.empty { background: var(--band); border-left: 4px solid #9aa5b1; padding: 10px 14px; color: var(--soft); }
p.note { color: var(--soft); font-size: 13px; }
figure { margin: 10px 0 16px; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--soft); font-size: 13px; margin-top: 4px; }
.scroll { overflow-x: auto; margin: 8px 0 18px; }
table { border-collapse: collapse; font-size: 14px; width: 100%; }
table.compact { font-size: 13px; }
table.compact th, table.compact td { padding: 4px 8px; }
table.narrow { width: auto; max-width: 780px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--band); font-weight: 600; font-size: 13px; color: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.highlight td { background: #f3eefa; font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 14px;
         margin: 8px 0 18px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; background: #fff; }
.card .value { font-size: 26px; font-weight: 700; color: var(--accent); }
.card .label { color: var(--soft); font-size: 13px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 7px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 13px;
          color: var(--soft); }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
footer { color: var(--soft); font-size: 12px; padding: 18px 0 40px; }
@media print { nav { display: none; } section { break-inside: avoid-page; } }
"""


# ------------------------------------------------------------------------------------ small pieces
def esc(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def pct(value, digits: int = 1) -> str:
    return "–" if value is None or pd.isna(value) else f"{100 * float(value):.{digits}f}%"


def num(value, digits: int = 0) -> str:
    return "–" if value is None or pd.isna(value) else f"{float(value):,.{digits}f}"


def image(png: bytes, alt: str, caption: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    width, height = (round(v * charts.SCREEN_DPI / charts.DPI) for v in charts.png_size(png))
    return (
        f'<figure><img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
        f'alt="{esc(alt)}">{cap}</figure>'
    )


Column = tuple[str, Callable[[pd.Series], str], bool]  # header, cell text, numeric (right-aligned)


def table(
    frame: pd.DataFrame,
    columns: list[Column],
    highlight: Callable[[pd.Series], bool] | None = None,
    css_class: str = "",
) -> str:
    """An escaped HTML table (cells are produced as text and escaped here), scrolling when too wide."""
    head = "".join(f'<th{" class=num" if is_num else ""}>{esc(h)}</th>' for h, _, is_num in columns)
    rows = []
    for _, row in frame.iterrows():
        cls = ' class="highlight"' if highlight and highlight(row) else ""
        cells = "".join(f'<td{" class=num" if is_num else ""}>{esc(f(row))}</td>' for _, f, is_num in columns)
        rows.append(f"<tr{cls}>{cells}</tr>")
    cls = f' class="{esc(css_class)}"' if css_class else ""
    body = "".join(rows)
    return (
        f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def empty(message: str) -> str:
    return f'<p class="empty">{esc(message)}</p>'


def card_grid(cards: list[tuple[str, str]]) -> str:
    """Key figures: (value, label) pairs as a row of cards."""
    items = "".join(
        f'<div class="card"><div class="value">{esc(v)}</div><div class="label">{esc(label)}</div></div>'
        for v, label in cards
    )
    return f'<div class="cards">{items}</div>'
