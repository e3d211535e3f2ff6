"""The control share is one setting: the env var the settings validate is the one dbt reads."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from insiders.settings import PROJECT_ROOT, Settings


def test_settings_and_dbt_read_the_same_env_var_with_the_same_default(monkeypatch):
    project = (PROJECT_ROOT / "dbt_project.yml").read_text()
    [(env_var, default)] = re.findall(
        r"insiders_control_share_pct: \"\{\{ env_var\('(\w+)', '(\d+)'\) \}\}\"", project
    )
    assert env_var == "INSIDERS_CONTROL_SHARE_PCT"
    monkeypatch.delenv(env_var, raising=False)
    assert Settings().control_share_pct == int(default) == 20
    monkeypatch.setenv(env_var, "30")
    assert Settings().control_share_pct == 30
    insiders_sql = (PROJECT_ROOT / "models" / "marts" / "insiders.sql").read_text()
    assert "< {{ var('insiders_control_share_pct') | int }} as is_control" in insiders_sql


@pytest.mark.parametrize("value", ["0", "60", "ten"])
def test_a_control_share_out_of_range_is_refused(monkeypatch, value):
    monkeypatch.setenv("INSIDERS_CONTROL_SHARE_PCT", value)
    with pytest.raises(ValidationError):
        Settings()
