"""Fixtures of the report tests: a tiny published marts schema in a fresh database."""

from __future__ import annotations

import pytest

from tests.insiders.report import tiny_marts


@pytest.fixture
def marts(pg_conn):
    """The tiny marts with a previous run, a backtest and candidates; yields the connection."""
    tiny_marts.build(pg_conn)
    return pg_conn


@pytest.fixture
def first_run_marts(pg_conn):
    """The tiny marts of a first run: no previous run, no backtest, no ml candidates."""
    tiny_marts.build(pg_conn, previous_run=False, backtest=False, candidates=False)
    return pg_conn
