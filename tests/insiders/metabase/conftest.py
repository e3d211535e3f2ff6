"""Fixtures of the Metabase tests: a stand-in Metabase server per test and clients of it."""

from __future__ import annotations

import pytest

from insiders.metabase import MetabaseClient, MetabaseSettings
from insiders.settings import PROJECT_ROOT

from .fake_metabase import FakeMetabase

SPECS = PROJECT_ROOT / "metabase"


@pytest.fixture
def fake_metabase():
    server = FakeMetabase().start()
    yield server
    server.stop()


@pytest.fixture
def client(fake_metabase):
    with MetabaseClient(fake_metabase.url, api_key=fake_metabase.api_key, timeout=5) as c:
        yield c


@pytest.fixture
def settings(fake_metabase) -> MetabaseSettings:
    return MetabaseSettings(
        url=fake_metabase.url,
        api_key=fake_metabase.api_key,
        username=None,
        password=None,
        database="Insiders",
        timeout_seconds=5,
        sync_timeout_seconds=0,  # the stand-in's sync is done at the next metadata read
        folder=SPECS,
    )
