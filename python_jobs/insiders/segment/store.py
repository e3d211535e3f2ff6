"""The ``ml`` schema: its DDL, what a run reads of the previous run, and the writes of a run.

Functions take a psycopg2 connection and never commit, except ``ensure_ml_schema`` and
``record_failed_run`` which are their own transactions; the job commits a run's writes at once.
The previous run is the one a new run matches its segments to: the latest succeeded cycle run the job
wrote (model fitting's own history). Which run the marts show is dbt's decision (is_current).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg2
import psycopg2.sql
from psycopg2.extras import Json, execute_values

from insiders.schema import ensure_schema

RUN_COLUMNS = (
    "run_id",
    "status",
    "error",
    "started_at",
    "finished_at",
    "as_of_date",
    "code_version",
    "algorithm",
    "parameters",
    "features",
    "random_seed",
    "features_schema",
    "n_customers",
    "chosen_k",
    "silhouette",
    "davies_bouldin",
    "calinski_harabasz",
    "inertia",
    "bic",
    "insiders_segment_id",
    "previous_run_id",
    "adjusted_rand_index",
    "customers_compared",
    "rules_fidelity",
    "artifact_uri",
    "seconds",
    "purpose",
)
LOCK_KEY = "insiders.segmentation"

log = logging.getLogger(__name__)


def plain(value):
    """A value psycopg2 and JSON accept: numpy scalars to Python, NaN/inf to None, recursively."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def ensure_ml_schema(conn) -> None:
    ensure_schema(conn, "ml_schema.sql")


@contextmanager
def job_lock(conn) -> Iterator[None]:
    """One segmentation at a time per database (session advisory lock; waits for a running one)."""
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_lock(hashtext(%s))", (LOCK_KEY,))
    conn.commit()
    try:
        yield
    finally:
        try:
            conn.rollback()
            with conn.cursor() as cur:
                cur.execute("select pg_advisory_unlock(hashtext(%s))", (LOCK_KEY,))
            conn.commit()
        except psycopg2.Error:  # connection lost: the server released the lock with the session
            log.warning("could not release the segmentation lock", exc_info=True)


# --------------------------------------------------------------------------------------------- reads
@dataclass(frozen=True)
class PreviousRun:
    """What a new run is compared with: its features, segments (id, archetype, centre) and labels."""

    run_id: str
    features: list[str]
    segments: pd.DataFrame
    labels: pd.Series
    next_segment_id: int


def read_previous(conn) -> PreviousRun | None:
    """The previous run, or None on a first run."""
    previous = previous_run(conn)
    if previous is None:
        return None
    return PreviousRun(
        run_id=previous["run_id"],
        features=previous["features"],
        segments=previous_segments(conn, previous["run_id"]),
        labels=previous_labels(conn, previous["run_id"]),
        next_segment_id=max_segment_id(conn) + 1,
    )


def previous_run(conn) -> dict | None:
    """The latest succeeded cycle run (run_id, features), or None; backtest runs are not compared."""
    with conn.cursor() as cur:
        cur.execute(
            """select run_id, features from ml.segmentation_runs
               where status = 'succeeded' and purpose = 'cycle'
               order by finished_at desc, run_id desc limit 1"""
        )
        row = cur.fetchone()
    return None if row is None else {"run_id": row[0], "features": list(row[1] or [])}


def previous_segments(conn, run_id: str) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(
            """select segment_id, archetype, is_insider, centre_original from ml.segments
               where run_id = %s order by segment_id""",
            (run_id,),
        )
        rows = cur.fetchall()
    return pd.DataFrame(rows, columns=["segment_id", "archetype", "is_insider", "centre_original"])


def previous_labels(conn, run_id: str) -> pd.Series:
    """segment_id per customer_id of a run."""
    with conn.cursor() as cur:
        cur.execute("select customer_id, segment_id from ml.customer_segments where run_id = %s", (run_id,))
        rows = cur.fetchall()
    return pd.Series([r[1] for r in rows], index=[r[0] for r in rows], dtype="int64")


@dataclass(frozen=True)
class FittedRun:
    """The latest run of a purpose that fitted its model (not an assignment): what a cycle assigns
    with, and what its refit decision compares the current features with."""

    run_id: str
    as_of_date: object  # date
    features: list[str]
    artifact_uri: str | None
    random_seed: int
    parameters: dict


def last_fitted_run(conn, purpose: str = "cycle") -> FittedRun | None:
    """The newest fitted run of ``purpose``. A backtest's segmentation counts only once its backtest
    is written (ml.backtests): a cycle that failed or was killed between the two left a run that no
    backtest stands on, and keeping it would keep a backtest that does not exist."""
    backtest_written = (
        "and exists (select 1 from ml.backtests b where b.run_id = r.run_id)" if purpose == "backtest" else ""
    )
    with conn.cursor() as cur:
        if purpose == "backtest":
            cur.execute("select to_regclass('ml.backtests') is not null")
            if not cur.fetchone()[0]:
                return None
        cur.execute(
            f"""select run_id, as_of_date, features, artifact_uri, random_seed, parameters
                from ml.segmentation_runs r
                where status = 'succeeded' and purpose = %s
                  and coalesce(parameters ->> 'fit', 'fitted') = 'fitted' {backtest_written}
                order by finished_at desc, run_id desc limit 1""",
            (purpose,),
        )
        row = cur.fetchone()
    if row is None:
        return None
    return FittedRun(row[0], row[1], list(row[2] or []), row[3], int(row[4]), dict(row[5] or {}))


def changed_customers(conn, features_schema: str, run_id: str, features) -> tuple[int, int]:
    """(customers now, customers new, gone or with other ``features`` than at run ``run_id``), from the
    features the run recorded per customer (ml.customer_segments.features) and the latest as_of_date
    of ``<features_schema>.customer_features``. One query in the database."""
    differs = " or ".join(
        f"(now.{c} is null) <> (s.features ->> '{c}' is null)"
        f" or abs(now.{c}::float8 - (s.features ->> '{c}')::float8)"
        f" > 1e-9 * greatest(abs(now.{c}::float8), 1)"
        for c in features
    )
    query = psycopg2.sql.SQL(
        """with now as (
               select * from {table} where as_of_date = (select max(as_of_date) from {table})
           ),
           s as (select customer_id, features from ml.customer_segments where run_id = %s)
           select count(now.customer_id),
                  count(*) filter (where now.customer_id is null or s.customer_id is null or {differs})
           from now full join s on s.customer_id = now.customer_id"""
    ).format(
        table=psycopg2.sql.Identifier(features_schema, "customer_features"), differs=psycopg2.sql.SQL(differs)
    )
    with conn.cursor() as cur:
        cur.execute(query, (run_id,))
        current, changed = cur.fetchone()
    return int(current), int(changed)


def max_segment_id(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("select coalesce(max(segment_id), 0) from ml.segments")
        return int(cur.fetchone()[0])


# -------------------------------------------------------------------------------------------- writes
def insert_run(conn, run: Mapping) -> None:
    values = plain({c: run.get(c) for c in RUN_COLUMNS})
    values["parameters"] = Json(values["parameters"] or {})
    cols = ", ".join(RUN_COLUMNS)
    marks = ", ".join(["%s"] * len(RUN_COLUMNS))
    with conn.cursor() as cur:
        cur.execute(f"insert into ml.segmentation_runs ({cols}) values ({marks})", list(values.values()))


def write_candidates(conn, run_id: str, candidates: pd.DataFrame) -> None:
    cols = list(candidates.columns)  # as made by model.candidates_frame, the one list of them
    rows = [(run_id, *plain(list(r))) for r in candidates[cols].astype(object).itertuples(index=False)]
    names = ", ".join(["run_id", *("selection_tier" if c == "tier" else c for c in cols)])
    with conn.cursor() as cur:
        execute_values(cur, f"insert into ml.segmentation_candidates ({names}) values %s", rows)


def write_segments(conn, run_id: str, segments: list[Mapping]) -> None:
    # raw model output only: dbt computes the shares and makes the displayed name from the archetype
    cols = [
        "segment_id",
        "archetype",
        "is_insider",
        "model_label",
        "size",
        "centre",
        "centre_original",
        "profile",
        "matched_by",
        "match_cost",
    ]
    rows = []
    for seg in segments:
        values = plain({c: seg[c] for c in cols})
        for c in ("centre", "centre_original", "profile"):
            values[c] = Json(values[c])
        rows.append((run_id, *values.values()))
    with conn.cursor() as cur:
        execute_values(cur, f"insert into ml.segments (run_id, {', '.join(cols)}) values %s", rows)


def write_customer_segments(conn, run_id: str, labels: pd.DataFrame) -> None:
    """``labels``: customer_id, segment_id, distance_to_centre, probability, features (a dict)."""
    cols = ["customer_id", "segment_id", "distance_to_centre", "probability", "features"]
    rows = [
        (run_id, *plain(list(r[:-1])), Json(plain(r[-1])))
        for r in labels[cols].astype(object).itertuples(index=False)
    ]
    with conn.cursor() as cur:
        execute_values(
            cur,
            f"insert into ml.customer_segments (run_id, {', '.join(cols)}) values %s",
            rows,
            page_size=2000,
        )


def write_rules(conn, run_id: str, rules) -> None:
    rows = [
        (run_id, r.rule_id, r.rule_text, r.predicts_insider, r.support, r.precision, r.recall) for r in rules
    ]
    with conn.cursor() as cur:
        execute_values(
            cur,
            """insert into ml.insider_rules
               (run_id, rule_id, rule_text, predicts_insider, support, precision, recall) values %s""",
            rows,
        )
    write_rule_conditions(conn, run_id, rules)


def write_rule_conditions(conn, run_id: str, rules) -> None:
    """Each rule's conditions as rows (ml.insider_rule_conditions): what dbt computes the gaps from."""
    rows = [
        (run_id, r.rule_id, i, c.feature, c.operator, c.threshold)
        for r in rules
        for i, c in enumerate(r.conditions, start=1)
    ]
    if not rows:
        return
    with conn.cursor() as cur:
        execute_values(
            cur,
            """insert into ml.insider_rule_conditions
               (run_id, rule_id, condition_id, feature, operator, threshold) values %s""",
            rows,
        )


def write_run(conn, run) -> None:
    """All the rows of a ``job.SegmentationRun``, in the caller's transaction (it commits)."""
    insert_run(conn, run.run_row())
    if len(run.candidates):  # an assignment run selected nothing
        write_candidates(conn, run.run_id, run.candidates)
    write_segments(conn, run.run_id, run.segment_rows)
    write_customer_segments(conn, run.run_id, run.customer_rows)
    write_rules(conn, run.run_id, run.rules)


def record_failed_run(conn, run_row: Mapping) -> None:
    """Record a failed run in its own transaction (the caller rolled back the run's writes)."""
    insert_run(conn, {**run_row, "status": "failed", "error": (run_row.get("error") or "")[:4000]})
    conn.commit()
