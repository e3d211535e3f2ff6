"""One small interface to the warehouse the job writes (docs/spark.md section 7): the steps that differ
between engines take a ``Warehouse`` instead of a psycopg2 connection. ``open_warehouse`` picks the
implementation from ``INSIDERS_TARGET``: ``postgres`` (default; wraps today's code unchanged) or
``spark`` (one SparkSession shared with dbt-spark's in the same process)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import pandas as pd

from insiders.load import LoadResult


class Warehouse(Protocol):
    engine: str  # "postgres" | "spark"

    def load_file(self, path: Path, **kwargs) -> LoadResult:
        """One file into raw (manifest + rejects; rows in = loaded + rejected; same file: skipped)."""

    def read_frame(self, query: str, args: Mapping[str, object] | None = None) -> pd.DataFrame:
        """A query's rows (or a relation's, given by name) as pandas."""

    def write_ml_run(
        self, run_row: Mapping[str, object], tables: Mapping[str, pd.DataFrame], run_table: str
    ) -> None:
        """A run's ml rows, atomically: readers see all of them or none."""

    def cycle_lock(self, *, wait: bool = False) -> AbstractContextManager[None]:
        """One cycle at a time per warehouse."""

    def start_job_run(self, command: str, sources: list[str]) -> int: ...

    def finish_job_run(self, job_run_id: int, update) -> None: ...

    def publish(self, build_schema: str, live_schema: str = "marts") -> object:
        """Make the marts of ``build_schema`` the ones readers see."""

    def close(self) -> None: ...


def open_warehouse(settings, url=None) -> Warehouse:
    """The warehouse of ``settings.target`` (Postgres needs the database ``url``)."""
    if settings.target == "spark":
        from insiders.warehouse.spark import SparkWarehouse

        return SparkWarehouse.open(settings)
    from insiders.warehouse.postgres import PostgresWarehouse

    return PostgresWarehouse.open(url)
