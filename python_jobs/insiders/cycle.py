"""The ordered steps of `insiders run`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from insiders import db
from insiders.dbt import run_dbt
from insiders.ingest import load_sources
from insiders.load import LoadResult
from insiders.logs import timed
from insiders.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class CycleOutcome:
    loads: list[LoadResult] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)

    def summary_text(self) -> str:
        lines = ["step timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.step_seconds.items())]
        for r in self.loads:
            if r.status == "loaded":
                lines.append(
                    f"loaded {r.source_uri}: {r.rows_in_file} rows in file, {r.rows_loaded} loaded, "
                    f"{r.rows_rejected} rejected"
                )
            else:
                lines.append(f"{r.status} {r.source_uri}: {r.message}")
        lines.append("row counts: " + ", ".join(f"{k}={v:,}" for k, v in self.row_counts.items()))
        return "\n".join(lines)


COUNTED_RELATIONS = ("raw.transactions", "raw.rejected_rows", "marts.customer_features")


def run_cycle(settings: Settings, sources: list[str]) -> CycleOutcome:
    outcome = CycleOutcome()

    def step(name: str):
        return _Step(name, outcome)

    with step("database"):
        url = db.ensure_database_ready(settings)
    with step("load"):
        outcome.loads = load_sources(url, sources, settings)
    with step("dbt build"):
        run_dbt(["build"], url, settings)
    outcome.row_counts = count_rows(url, COUNTED_RELATIONS)
    return outcome


class _Step:
    def __init__(self, name: str, outcome: CycleOutcome):
        self.name, self.outcome = name, outcome

    def __enter__(self):
        self._timer = timed(log, self.name)
        self._timer.__enter__()
        self._t0 = time.perf_counter()

    def __exit__(self, *exc):
        self.outcome.step_seconds[self.name] = time.perf_counter() - self._t0
        return self._timer.__exit__(*exc)


def count_rows(url, relations) -> dict[str, int]:
    counts = {}
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        for rel in relations:
            cur.execute("select to_regclass(%s) is not null", (rel,))
            if cur.fetchone()[0]:
                cur.execute(f"select count(*) from {rel}")
                counts[rel] = cur.fetchone()[0]
    return counts
