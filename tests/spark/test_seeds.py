"""Seeds load the same on both engines, quotes, backslashes, percent signs and empty cells included.

dbt-spark 1.11 (session) pastes seed values into its insert unescaped: the apostrophe of
seeds/segment_playbook.csv broke `dbt seed`, and an empty cell became the text 'None'. The override
in macros/cross_db/spark__load_csv_rows.sql fixes both; a value that does not fit its column type
fails the seed (Spark's ANSI mode is off under dbt-spark, where a bad cast would give a silent null).
"""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from insiders.errors import StepFailedError
from insiders.settings import PROJECT_ROOT
from tests.spark.conftest import show_rows

QUIRKS = """\
label,text_value,amount,sold_on
apostrophe,customer's favourite,2.55,2011-12-09
backslash,C:\\new\\1 and \\\\,-1.5,2011-01-01
percent,50% off %s %(x)s,0.125,
double quotes,"say ""hi"", then go",,2010-12-01
empty text,,3,2011-06-30
unicode,café – naïve,1000000.01,2011-02-28
"""

# seed configs in yml are rendered without the project's macros: `target.type` is what they can use
TEXT = "{{ 'string' if target.type == 'spark' else 'text' }}"
EXACT = "{{ 'decimal(38, 10)' if target.type == 'spark' else 'numeric' }}"
SEEDS_YML = f"""\
version: 2
seeds:
  - name: segment_playbook
    config:
      column_types: {{segment_name: "{TEXT}", goal: "{TEXT}", recommended_action: "{TEXT}", channel: "{TEXT}"}}
  - name: non_product_stock_codes
    config:
      column_types: {{stock_code: "{TEXT}", match_type: "{TEXT}", description: "{TEXT}", reason: "{TEXT}"}}
  - name: seed_quirks
    config:
      column_types: {{label: "{TEXT}", text_value: "{TEXT}", amount: "{EXACT}", sold_on: date}}
  - name: seed_bad_number
    config:
      column_types: {{label: "{TEXT}", amount: int}}
"""


@pytest.fixture(scope="session")
def seed_project(macro_project):
    (macro_project / "seeds" / "seed_quirks.csv").write_text(QUIRKS, encoding="utf-8")
    (macro_project / "seeds" / "seed_bad_number.csv").write_text("label,amount\nfine,1\nbad,12abc\n")
    (macro_project / "seeds" / "_seeds.yml").write_text(SEEDS_YML)
    return macro_project


def _csv_rows(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(handle)]


@pytest.mark.parametrize("seed", ["segment_playbook", "non_product_stock_codes"])
def test_project_seeds_load_every_value_unchanged(seed_project, dbt_on, seed):
    engine, run = dbt_on
    run(["seed", "--select", seed])
    rows = show_rows(run, f"select * from {{{{ ref('{seed}') }}}}")
    expected = _csv_rows(PROJECT_ROOT / "seeds" / f"{seed}.csv")
    key = next(iter(expected[0]))
    assert sorted(rows, key=lambda r: r[key]) == sorted(expected, key=lambda r: r[key]), engine
    assert any("'" in str(v) for r in expected for v in r.values()) or seed != "segment_playbook"


def test_quirky_values_and_empty_cells(seed_project, dbt_on):
    engine, run = dbt_on
    run(["seed", "--select", "seed_quirks"])
    rows = {r["label"]: r for r in show_rows(run, "select * from {{ ref('seed_quirks') }}")}
    assert rows["apostrophe"]["text_value"] == "customer's favourite", engine
    assert rows["backslash"]["text_value"] == "C:\\new\\1 and \\\\", engine
    assert rows["percent"]["text_value"] == "50% off %s %(x)s", engine
    assert rows["double quotes"]["text_value"] == 'say "hi", then go', engine
    assert rows["empty text"]["text_value"] is None, engine  # null, not the text 'None'
    assert rows["unicode"]["text_value"] == "café – naïve", engine
    assert Decimal(str(rows["apostrophe"]["amount"])) == Decimal("2.55"), engine  # not rounded to 3
    assert Decimal(str(rows["unicode"]["amount"])) == Decimal("1000000.01"), engine
    assert rows["double quotes"]["amount"] is None, engine
    assert rows["percent"]["sold_on"] is None, engine
    assert str(rows["apostrophe"]["sold_on"])[:10] == "2011-12-09", engine


def test_a_value_that_does_not_fit_its_type_fails_the_seed(seed_project, dbt_on):
    engine, run = dbt_on
    with pytest.raises(StepFailedError, match="seed"):
        run(["seed", "--select", "seed_bad_number"])
