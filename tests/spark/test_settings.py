"""INSIDERS_TARGET chooses the engine: postgres by default, spark when asked, nothing else."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

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
