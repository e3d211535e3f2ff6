"""INSIDERS_TARGET chooses the engine: postgres by default, spark when asked, nothing else."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from insiders.dbt import dbt_target as dbt_target_of
from insiders.dbt import spark_env as spark_env_of
from insiders.settings import Settings


def test_postgres_is_the_default(monkeypatch):
    monkeypatch.delenv("INSIDERS_TARGET", raising=False)
    assert Settings().target == "postgres"


def test_spark_is_chosen_by_env_and_keeps_its_files_under_home(monkeypatch, tmp_path):
    monkeypatch.setenv("INSIDERS_TARGET", "spark")
    monkeypatch.setenv("INSIDERS_HOME", str(tmp_path))
    monkeypatch.delenv("INSIDERS_SPARK_MASTER", raising=False)  # the Spark suite sets local[1]
    settings = Settings()
    assert settings.target == "spark"
    assert settings.spark_home == tmp_path / "spark"
    assert settings.spark_master == "local[2]"


def test_an_unknown_engine_is_refused(monkeypatch):
    monkeypatch.setenv("INSIDERS_TARGET", "oracle")
    with pytest.raises(ValidationError, match="target"):
        Settings()


@pytest.mark.parametrize(
    ("env", "dbt_target"),
    [
        ({}, "dev"),
        ({"INSIDERS_TARGET": "spark"}, "spark"),
        ({"INSIDERS_TARGET": "postgres"}, "dev"),
        ({"INSIDERS_TARGET": "spark", "INSIDERS_DBT_TARGET": "databricks"}, "databricks"),
    ],
)
def test_the_engine_picks_the_dbt_target_and_an_explicit_one_wins(monkeypatch, tmp_path, env, dbt_target):
    for name in ("INSIDERS_TARGET", "INSIDERS_DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(home=tmp_path)
    assert dbt_target_of(settings) == dbt_target
    spark_env = spark_env_of(settings)
    if dbt_target == "spark":  # the profile's spark output reads its folders from the settings' home
        assert spark_env["INSIDERS_HOME"] == str(tmp_path)
    else:
        assert spark_env == {}
