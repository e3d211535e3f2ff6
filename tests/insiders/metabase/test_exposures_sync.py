"""The dbt exposures (models/exposures.yml) name exactly the marts each Metabase dashboard's cards read.

A dashboard spec names its exposure (``exposure:``); the marts its cards read (``marts.<name>`` after
``from``/``join``, the regex of the spec loader) must equal the exposure's ``depends_on`` refs, so the
lineage in the dbt docs is the dashboards' real one. No database needed.
"""

from __future__ import annotations

import re

import pytest
import yaml

from insiders.metabase import load_dashboards
from insiders.settings import PROJECT_ROOT

from .conftest import SPECS

EXPOSURES = PROJECT_ROOT / "models" / "exposures.yml"
MARTS = {path.stem for path in (PROJECT_ROOT / "models" / "marts").glob("*.sql")}
DASHBOARDS = load_dashboards(SPECS)


def exposures() -> dict[str, dict]:
    return {e["name"]: e for e in yaml.safe_load(EXPOSURES.read_text(encoding="utf-8"))["exposures"]}


def refs(exposure: dict) -> set[str]:
    names = set()
    for item in exposure.get("depends_on") or []:
        match = re.fullmatch(r"""\s*ref\(\s*['"](\w+)['"]\s*\)\s*""", item)
        assert match, f"{exposure['name']}: depends_on item {item!r} is not ref('<model>')"
        names.add(match.group(1))
    return names


def test_each_dashboard_names_its_exposure():
    assert {d.label: d.exposure for d in DASHBOARDS} == {
        "insiders.yml": "insiders_dashboard",
        "model_health.yml": "model_health_dashboard",
    }
    dashboard_exposures = {name for name, e in exposures().items() if e.get("type") == "dashboard"}
    assert sorted(d.exposure for d in DASHBOARDS) == sorted(dashboard_exposures)


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.label)
def test_the_exposure_depends_on_exactly_the_marts_the_cards_read(dashboard):
    read, declared = dashboard.marts_relations(), refs(exposures()[dashboard.exposure])

    assert read <= MARTS, f"cards read marts that are no dbt model: {sorted(read - MARTS)}"
    assert read == declared, (
        f"{dashboard.label} vs exposure {dashboard.exposure}: read but not in depends_on "
        f"{sorted(read - declared)}; in depends_on but read by no card {sorted(declared - read)}"
    )
