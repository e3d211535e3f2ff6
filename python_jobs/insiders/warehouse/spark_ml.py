"""The segmentation on Spark: its reads (features, the previous run) and its writes (a run's ml rows,
run row last) through ``SparkWarehouse``; the fitting is the same code as on Postgres
(``insiders.segment.job.segment`` / ``assign``: pure functions of a frame and the previous run)."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import pandas as pd

from insiders.errors import UserError
from insiders.segment import features as feats
from insiders.segment import store
from insiders.warehouse.spark_schema import ensure_tables

log = logging.getLogger(__name__)

RUN_TABLE = "ml.segmentation_runs"
RUN_TABLES = (
    "ml.segmentation_candidates",
    "ml.segments",
    "ml.customer_segments",
    "ml.insider_rules",
    "ml.insider_rule_conditions",
)


def read_features(wh, schema: str = "marts", as_of_date=None) -> pd.DataFrame:
    """The same frame as ``features.read_features`` (same checks and errors), read through Spark."""
    table = feats.FEATURES_TABLE
    present = set(wh.relation_columns(schema, table))
    if not present:
        raise UserError(f"{schema}.{table} does not exist: build the marts first (dbt build)")
    missing = [c for c in (*feats.KEY_COLUMNS, *feats.FEATURES) if c not in present]
    if missing:
        raise UserError(f"{schema}.{table} lacks column(s): {', '.join(missing)}")
    cols = ", ".join((*feats.KEY_COLUMNS, *feats.FEATURES))
    date = (
        "cast(:as_of as date)"
        if as_of_date is not None
        else f"(select max(as_of_date) from {schema}.{table})"
    )
    frame = wh.read_frame(
        f"select {cols} from {schema}.{table} where as_of_date = {date}",
        {"as_of": str(as_of_date)} if as_of_date is not None else None,
    )
    return feats.checked_frame(frame, f"{schema}.{table}", as_of_date)


def read_previous(wh) -> store.PreviousRun | None:
    """``store.read_previous`` on Spark: the latest succeeded cycle run with a run row."""
    ensure_tables(wh.spark, "ml")
    runs = wh.read_frame(
        f"select run_id, features from {RUN_TABLE} where status = 'succeeded' and purpose = 'cycle' "
        "order by finished_at desc, run_id desc limit 1"
    )
    if runs.empty:
        return None
    run_id = runs["run_id"].iloc[0]
    segments = wh.read_run_table("ml.segments", run_id=run_id).sort_values("segment_id")
    segments = segments.assign(centre_original=segments["centre_original"].map(json.loads))
    labels = wh.read_run_table("ml.customer_segments", run_id=run_id)
    top = wh.read_frame("select coalesce(max(segment_id), 0) as m from ml.segments")["m"].iloc[0]
    return store.PreviousRun(
        run_id=run_id,
        features=list(runs["features"].iloc[0] if runs["features"].iloc[0] is not None else []),
        segments=segments[["segment_id", "archetype", "is_insider", "centre_original"]].reset_index(
            drop=True
        ),
        labels=pd.Series(
            labels["segment_id"].astype("int64").to_numpy(), index=labels["customer_id"].to_numpy()
        ),
        next_segment_id=int(top) + 1,
    )


def run_tables(run) -> dict[str, pd.DataFrame]:
    """The rows of a ``job.SegmentationRun`` per ml table (what ``store.write_run`` inserts)."""
    candidates = run.candidates if run.candidates is not None else pd.DataFrame()
    candidates = candidates.rename(columns={"tier": "selection_tier"})
    rules = pd.DataFrame(
        [(r.rule_id, r.rule_text, r.predicts_insider, r.support, r.precision, r.recall) for r in run.rules],
        columns=["rule_id", "rule_text", "predicts_insider", "support", "precision", "recall"],
    )
    conditions = pd.DataFrame(
        [(r.rule_id, i, c.feature, c.operator, c.threshold) for r in run.rules
         for i, c in enumerate(r.conditions, start=1)],
        columns=["rule_id", "condition_id", "feature", "operator", "threshold"],
    )  # fmt: skip
    return {
        "ml.segmentation_candidates": candidates,
        "ml.segments": pd.DataFrame(run.segment_rows),
        "ml.customer_segments": run.customer_rows if run.customer_rows is not None else pd.DataFrame(),
        "ml.insider_rules": rules,
        "ml.insider_rule_conditions": conditions,
    }


def write_run(wh, run) -> None:
    """All the rows of a run, its run row last (SparkWarehouse.write_ml_run)."""
    row = store.plain(run.run_row())
    wh.write_ml_run(row, run_tables(run), RUN_TABLE)


def run_segmentation(
    wh, settings, *, features_schema: str = "marts", seed: int = 42, refit_reason=None, purpose: str = "cycle"
):
    """``job.run_segmentation`` on Spark: read, fit (the same code), save the artefact, write."""
    from threadpoolctl import threadpool_limits

    from insiders.segment import job

    started_at = datetime.now(UTC)
    t_start = time.perf_counter()
    rule = job.SelectionRule()
    k_range = sorted(set(job.DEFAULT_K_RANGE))
    parameters = {
        **job._parameters(k_range, job.FAMILIES, rule),
        "fit": "fitted",
        "refit_reason": refit_reason,
    }
    run = job.SegmentationRun(
        run_id=job.new_run_id(started_at), started_at=started_at, random_seed=seed,
        parameters=parameters,
        features_schema=features_schema, purpose=purpose, code_version=job.code_version(),
    )  # fmt: skip
    try:
        frame = read_features(wh, features_schema)
        run.as_of_date, run.n_customers = frame["as_of_date"].iloc[0], len(frame)
        previous = read_previous(wh)
        with threadpool_limits(limits=1):
            job.segment(frame, previous, seed, rule, k_range=k_range, families=job.FAMILIES, into=run,
                        gmm_fit_sample=settings.gmm_fit_sample)  # fmt: skip
        run.artifact_path = str(job.save_model(run.model, settings.artifact_dir).resolve())
        run.finished_at, run.seconds = datetime.now(UTC), time.perf_counter() - t_start
        write_run(wh, run)
    except Exception as exc:
        run.finished_at, run.seconds = datetime.now(UTC), time.perf_counter() - t_start
        log.error("segmentation %s: failed after %.1fs: %s", run.run_id, run.seconds, exc)
        failed = store.plain(run.run_row(error=f"{type(exc).__name__}: {exc}"[:4000]))
        wh.write_ml_run(failed, {}, RUN_TABLE)
        raise
    run.timings["total"] = round(time.perf_counter() - t_start, 3)
    log.info("segmentation %s (spark): %d customers, %s k=%d, Insiders %.1f%% of customers",
             run.run_id, run.n_customers, run.algorithm, run.k, 100 * run.insiders_share)  # fmt: skip
    return run
