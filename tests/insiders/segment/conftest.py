"""Fixtures of the segmentation tests: a features table of obvious groups, settings for a database."""

from __future__ import annotations

import pytest

from tests.insiders.segment.synthetic import separated_customers, write_features


@pytest.fixture
def separated(pg_conn):
    frame, group = separated_customers()
    write_features(pg_conn, frame)
    return frame, group


@pytest.fixture
def settings(database_url, settings_for):
    return settings_for(database_url)
