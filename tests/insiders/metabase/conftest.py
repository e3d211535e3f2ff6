"""Fixtures of the Metabase tests."""

from __future__ import annotations

from insiders.settings import PROJECT_ROOT

SPECS = PROJECT_ROOT / "metabase"
