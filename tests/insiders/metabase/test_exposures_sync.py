"""The dbt exposures name exactly the marts each Metabase dashboard's cards read."""

from __future__ import annotations

import re

import yaml

from insiders.settings import PROJECT_ROOT

EXPOSURE_OF = {"insiders.yml": "insiders_dashboard", "model_health.yml": "model_health_dashboard"}


def test_exposures_match_the_marts_the_cards_read():
    exposures = yaml.safe_load((PROJECT_ROOT / "models" / "exposures.yml").read_text())["exposures"]
    depends = {
        e["name"]: {re.search(r"ref\('(\w+)'\)", d).group(1) for d in e["depends_on"]} for e in exposures
    }
    for file_name, exposure in EXPOSURE_OF.items():
        text = (PROJECT_ROOT / "metabase" / file_name).read_text()
        used = set(re.findall(r"marts\.(\w+)", text))
        assert used == depends[exposure], (file_name, sorted(used ^ depends[exposure]))
