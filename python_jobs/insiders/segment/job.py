"""Segment customers: ``segment(frame, previous, seed, rule)`` is the pure part (fit and choose a model,
find the Insiders, give segments archetypes and stable ids, derive the entry rules) and returns one
``SegmentationRun``; ``run_segmentation`` reads the features and the previous run, calls it, saves the
model and writes the run with ``store.write_run``.

All of a run's rows (run, candidates, segments, customer labels, rules) are written in ONE transaction
and committed at the end, so a run is either complete or invisible. When anything fails after the run
started, that transaction is rolled back and the run is recorded, in a transaction of its own, with
status 'failed' and the error; the exception is then raised again.
"""

from __future__ import annotations

import logging
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sklearn.metrics import pairwise_distances
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

import insiders
from insiders.errors import UserError
from insiders.logs import StepTimer
from insiders.segment import features as feats
from insiders.segment import matching, naming, store
from insiders.segment.artifact import SegmentModel, load_model, local_path, save_model
from insiders.segment.model import (
    DEFAULT_GMM_FIT_SAMPLE,
    DEFAULT_K_RANGE,
    FAMILIES,
    Candidate,
    SelectionRule,
    candidates_frame,
    centres,
    choose,
    final_pipeline,
    fit_candidates,
    qualifying_tier,
    score_candidate,
    silhouette_sample,
)
from insiders.segment.rules import Rule, insider_rules
from insiders.settings import Settings

log = logging.getLogger(__name__)

MIN_CUSTOMERS = 10


@dataclass(frozen=True)
class SegmentSummary:
    """One segment of a run, as the job printed it (names and shares in the marts are dbt's)."""

    segment_id: int
    segment_name: str  # the archetype
    is_insider: bool
    size: int
    share_of_customers: float
    revenue_share: float
    median_gross_revenue: float
    median_purchases: float
    median_recency_days: float
    matched_by: str | None  # centre | overlap | None (new segment)


@dataclass
class SegmentationRun:
    """Everything one run found: the run row of ``ml.segmentation_runs`` and the rows that go with it."""

    run_id: str
    started_at: datetime
    random_seed: int
    parameters: dict
    as_of_date: date | None = None
    n_customers: int | None = None  # None until the features were read
    features_schema: str | None = None
    purpose: str = "cycle"
    code_version: str = ""
    features: list[str] = field(default_factory=lambda: list(feats.FEATURES))
    status: str = "succeeded"
    algorithm: str | None = None
    k: int | None = None
    selection_tier: int | None = None
    silhouette: float | None = None
    davies_bouldin: float | None = None
    calinski_harabasz: float | None = None
    inertia: float | None = None
    bic: float | None = None
    insiders_segment_id: int | None = None
    insiders_share: float | None = None
    insiders_revenue_share: float | None = None
    previous_run_id: str | None = None
    adjusted_rand_index: float | None = None
    customers_compared: int | None = None
    rules_fidelity: float | None = None
    finished_at: datetime | None = None
    seconds: float | None = None
    artifact_path: str | None = None
    candidates: pd.DataFrame | None = field(default=None, repr=False)
    segment_rows: list[dict] = field(default_factory=list, repr=False)
    customer_rows: pd.DataFrame | None = field(default=None, repr=False)
    model: SegmentModel | None = field(default=None, repr=False)
    segments: list[SegmentSummary] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def run_row(self, error: str | None = None) -> dict:
        """The row of ml.segmentation_runs (store.RUN_COLUMNS)."""
        return {
            **{c: getattr(self, c, None) for c in store.RUN_COLUMNS},
            "status": "failed" if error else self.status,
            "error": error,
            "chosen_k": self.k,
            "artifact_uri": None if self.artifact_path is None else Path(self.artifact_path).as_uri(),
        }

    def summary_text(self) -> str:
        ari = "n/a" if self.adjusted_rand_index is None else f"{self.adjusted_rand_index:.3f}"
        lines = [
            f"run {self.run_id}: {self.n_customers:,} customers as of {self.as_of_date}, "
            f"{self.algorithm} k={self.k} (tier {self.selection_tier}), silhouette {self.silhouette:.3f}",
            f"Insiders: segment {self.insiders_segment_id}, {self.insiders_share:.1%} of customers, "
            f"{self.insiders_revenue_share:.1%} of revenue; rules fidelity {self.rules_fidelity:.1%}",
            f"previous run {self.previous_run_id or '-'}, adjusted Rand index {ari} "
            f"on {self.customers_compared:,} customers",
        ]
        for s in self.segments:
            lines.append(
                f"  {s.segment_id:>3} {s.segment_name:<26} {s.size:>6,} customers {s.share_of_customers:6.1%}"
                f"  revenue {s.revenue_share:6.1%}  median revenue {s.median_gross_revenue:10,.2f}"
            )
        lines.append("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in self.timings.items()))
        return "\n".join(lines)


SegmentationResult = SegmentationRun  # the name callers used before the record types were merged


def run_segmentation(
    conn_or_engine,
    settings: Settings,
    *,
    features_schema: str = "marts",
    seed: int = 42,
    as_of_date: date | str | None = None,
    k_range=DEFAULT_K_RANGE,
    families: tuple[str, ...] = FAMILIES,
    rule: SelectionRule = SelectionRule(),
    purpose: str = "cycle",
    refit_reason: str | None = None,
) -> SegmentationRun:
    """Segment the customers of ``<features_schema>.customer_features`` and record the run in ``ml``.

    ``conn_or_engine``: a psycopg2 connection not inside a transaction (the job commits its own
    work) or a SQLAlchemy Engine. Raises UserError for problems with the input (missing table or
    columns, no rows, too few customers); the failed run is recorded before raising.
    """
    k_range = sorted(set(k_range))
    if not k_range or min(k_range) < 2:
        raise ValueError(f"k_range must hold values >= 2, got {k_range}")
    started_at = datetime.now(UTC)
    t_start = time.perf_counter()
    run = SegmentationRun(
        run_id=new_run_id(started_at),
        started_at=started_at,
        random_seed=seed,
        parameters={**_parameters(k_range, families, rule), "fit": "fitted", "refit_reason": refit_reason},
        features_schema=features_schema,
        purpose=purpose,
        code_version=code_version(),
    )
    log.info(
        "segmentation %s: started (features from %s.%s)", run.run_id, features_schema, feats.FEATURES_TABLE
    )

    def fit(frame, previous):
        # One native thread: the matrices are small (thousands x 6), and OpenMP/BLAS threads
        # spin-waiting on a busy 2-core machine (dbt, Postgres) made fitting 10-20x slower.
        with threadpool_limits(limits=1):
            segment(
                frame, previous, seed, rule, k_range=k_range, families=families, into=run,
                gmm_fit_sample=settings.gmm_fit_sample,
            )  # fmt: skip

    def save():
        return str(save_model(run.model, settings.artifact_dir).resolve())

    return _record_run(conn_or_engine, run, features_schema, as_of_date, fit, save, t_start)


def assign_segmentation(
    conn_or_engine,
    fitted: store.FittedRun,
    *,
    features_schema: str = "marts",
    purpose: str = "cycle",
) -> SegmentationRun:
    """A run without fitting: the customers of ``<features_schema>.customer_features`` assigned with
    the model of the ``fitted`` run (its artefact), recorded like any run, with ``parameters.fit =
    'assigned'`` and ``parameters.model_run_id``. Same segment ids, names and Insiders as that model;
    the scores (silhouette, Davies-Bouldin...) are those of this run's customers."""
    started_at = datetime.now(UTC)
    t_start = time.perf_counter()
    run = SegmentationRun(
        run_id=new_run_id(started_at),
        started_at=started_at,
        random_seed=fitted.random_seed,
        parameters={
            **fitted.parameters,
            "fit": "assigned",
            "model_run_id": fitted.run_id,
            "refit_reason": None,
        },
        features_schema=features_schema,
        purpose=purpose,
        code_version=code_version(),
    )
    log.info("segmentation %s: assigning customers with the model of run %s", run.run_id, fitted.run_id)
    model = load_model(fitted.artifact_uri)
    rule = SelectionRule(**fitted.parameters.get("selection_rule", {}))

    def work(frame, previous):
        with threadpool_limits(limits=1):
            assign(frame, model, previous, rule, into=run)

    def save():  # the fitted run's artefact: nothing new to save
        return str(local_path(fitted.artifact_uri).resolve())

    return _record_run(conn_or_engine, run, features_schema, None, work, save, t_start)


def _record_run(conn_or_engine, run: SegmentationRun, features_schema, as_of_date, work, save, t_start):
    """Read the features and the previous run, ``work(frame, previous)`` (fills ``run``), ``save()``
    (the artefact's path), write the run in one transaction; a failure is recorded and raised again."""
    timer = StepTimer(log, run.timings, level=logging.DEBUG)
    with _dbapi(conn_or_engine) as conn, _autocommit_off(conn):
        store.ensure_ml_schema(conn)
        with store.job_lock(conn):
            try:
                with timer("read"):
                    frame = feats.read_features(conn, features_schema, as_of_date)
                    run.as_of_date, run.n_customers = frame["as_of_date"].iloc[0], len(frame)
                    previous = store.read_previous(conn)
                    conn.rollback()
                work(frame, previous)
                with timer("artefact"):
                    run.artifact_path = save()
                with timer("write"):
                    run.finished_at, run.seconds = datetime.now(UTC), time.perf_counter() - t_start
                    store.write_run(conn, run)
                    conn.commit()
            except Exception as exc:
                run.finished_at, run.seconds = datetime.now(UTC), time.perf_counter() - t_start
                log.error("segmentation %s: failed after %.1fs: %s", run.run_id, run.seconds, exc)
                _record_failure(conn, run, exc)
                raise
    run.timings["total"] = round(time.perf_counter() - t_start, 3)
    log.info(
        "segmentation %s: %s in %.1fs, %d customers, %s k=%d, Insiders %.1f%% of customers",
        run.run_id, run.parameters.get("fit", "fitted"), run.timings["total"], run.n_customers,
        run.algorithm, run.k, 100 * run.insiders_share,
    )  # fmt: skip
    return run


def segment(
    frame: pd.DataFrame,
    previous: store.PreviousRun | None,
    seed: int = 42,
    rule: SelectionRule = SelectionRule(),
    *,
    k_range=DEFAULT_K_RANGE,
    families: tuple[str, ...] = FAMILIES,
    into: SegmentationRun | None = None,
    gmm_fit_sample: int | None = DEFAULT_GMM_FIT_SAMPLE,
) -> SegmentationRun:
    """The pure part of a run: ``frame`` (one row per customer, ``feats.FEATURES``) and the previous
    run → the chosen model, the Insiders, archetypes, stable ids, the entry rules and the rows to
    write. No database, no files. ``into``: the run record to fill (a new one by default)."""
    run = into or SegmentationRun(
        run_id=new_run_id(datetime.now(UTC)),
        started_at=datetime.now(UTC),
        random_seed=seed,
        parameters=_parameters(sorted(set(k_range)), families, rule),
        n_customers=len(frame),
    )
    if len(frame) < MIN_CUSTOMERS:
        raise UserError(f"only {len(frame)} customers: at least {MIN_CUSTOMERS} are needed to segment")
    timer = StepTimer(log, run.timings, level=logging.DEBUG)
    with timer("fit"):
        revenue = frame["gross_revenue"].fillna(0).to_numpy()
        preparation = feats.build_preparation().fit(frame[list(feats.FEATURES)])
        x = preparation.transform(frame[list(feats.FEATURES)])
        candidates = fit_candidates(
            x, revenue, k_range=k_range, families=families, seed=seed, rule=rule,
            gmm_fit_sample=gmm_fit_sample,
        )  # fmt: skip
        chosen = choose(candidates, rule)
    log.info(
        "fitted %d candidates; chose %s k=%d (tier %d)",
        len(candidates),
        chosen.algorithm,
        chosen.k,
        chosen.tier,
    )

    with timer("name and match"):
        labels = chosen.labels
        model_labels = sorted(int(v) for v in np.unique(labels))
        profiles = naming.segment_profiles(frame, labels, feats.FEATURES)
        insider = naming.insiders_label(labels, revenue)
        centre_fitted = centres(chosen.estimator)
        centre_original = feats.to_original_units(preparation, centre_fitted)
        ordered = sorted(model_labels, key=lambda lb: (-profiles.loc[lb, "gross_revenue_median"], lb))
        pairs, method = _match(preparation, centre_fitted, ordered, frame, labels, previous)
        prev_segments = previous.segments if previous else None
        next_id = previous.next_segment_id if previous else 1
        matches = matching.assign_ids(ordered, pairs, prev_segments, next_id, method)
        archetypes = _archetypes(ordered, matches, insider, profiles)
        segment_of_label = {lb: matches[lb].segment_id for lb in model_labels}
        segment_ids = np.array([segment_of_label[int(lb)] for lb in labels])
        ari, compared = matching.ari_vs_previous(
            frame["customer_id"], segment_ids, previous.labels if previous else None
        )

    with timer("rules"):
        ruleset = insider_rules(frame, labels == insider)

    run.model = SegmentModel(
        run_id=run.run_id,
        pipeline=final_pipeline(preparation, chosen.estimator),
        features=tuple(feats.FEATURES),
        segment_ids=segment_of_label,
        segment_names={segment_of_label[lb]: archetypes[lb] for lb in model_labels},
        insiders_segment_id=segment_of_label[insider],
    )
    run.segment_rows = [
        _segment_row(lb, matches[lb], archetypes[lb], lb == insider, profiles, centre_fitted, centre_original)
        for lb in ordered
    ]
    run.customer_rows = _customer_rows(frame, x, labels, segment_ids, chosen.estimator, centre_fitted)
    run.candidates = candidates_frame(candidates)
    run.rules = ruleset.rules
    ins = profiles.loc[insider]
    run.algorithm, run.k, run.selection_tier = chosen.algorithm, chosen.k, chosen.tier
    run.silhouette, run.davies_bouldin = chosen.silhouette, chosen.davies_bouldin
    run.calinski_harabasz, run.inertia, run.bic = chosen.calinski_harabasz, chosen.inertia, chosen.bic
    run.insiders_segment_id = segment_of_label[insider]
    run.insiders_share, run.insiders_revenue_share = (
        float(ins["share_of_customers"]),
        float(ins["revenue_share"]),
    )
    run.previous_run_id = previous.run_id if previous else None
    run.adjusted_rand_index, run.customers_compared = ari, compared
    run.rules_fidelity = ruleset.fidelity
    run.parameters.update(
        selection_tier=chosen.tier,
        silhouette_sample_size=min(len(frame), rule.silhouette_sample),
        gmm_fit_sample_size=min(len(frame), gmm_fit_sample or len(frame)),
        model_params={k: v for k, v in chosen.estimator.get_params().items() if _is_plain(v)},
        rule_features=list(ruleset.features),
        matched_by=method,
    )
    run.segments = [_summary(seg, profiles.loc[seg["model_label"]]) for seg in run.segment_rows]
    return run


def assign(
    frame: pd.DataFrame,
    model: SegmentModel,
    previous: store.PreviousRun | None,
    rule: SelectionRule = SelectionRule(),
    *,
    into: SegmentationRun,
) -> SegmentationRun:
    """The pure part of an assignment run: ``frame`` labelled by the saved ``model`` (no fit), with the
    model's segment ids, archetypes and Insiders; profiles, scores, entry rules and the rows to write
    from this frame. A segment the model has but no customer falls in is not written."""
    run = into
    if len(frame) < MIN_CUSTOMERS:
        raise UserError(f"only {len(frame)} customers: at least {MIN_CUSTOMERS} are needed to segment")
    if tuple(model.features) != tuple(feats.FEATURES):
        raise ValueError(f"model {model.run_id} uses other features: {model.features}")
    timer = StepTimer(log, run.timings, level=logging.DEBUG)
    preparation = Pipeline(model.pipeline.steps[:-1])
    estimator = model.pipeline.steps[-1][1]
    with timer("assign"):
        revenue = frame["gross_revenue"].fillna(0).to_numpy()
        x = preparation.transform(frame[list(feats.FEATURES)])
        labels = estimator.predict(x)
        algorithm = "gmm" if hasattr(estimator, "means_") else "kmeans"
        k = len(model.segment_ids)
        chosen = Candidate(algorithm, k, estimator, labels)
        sample = silhouette_sample(len(x), rule.silhouette_sample, run.random_seed)
        score_candidate(chosen, x, revenue, sample, pairwise_distances(x[sample]))
        chosen.tier = qualifying_tier(chosen, rule)
    with timer("name and match"):
        model_labels = sorted(int(v) for v in np.unique(labels))
        insider = next(lb for lb, sid in model.segment_ids.items() if sid == model.insiders_segment_id)
        if insider not in model_labels:
            raise UserError(f"no customer falls in the Insiders segment of model {model.run_id}")
        profiles = naming.segment_profiles(frame, labels, feats.FEATURES)
        centre_fitted = centres(estimator)
        centre_original = feats.to_original_units(preparation, centre_fitted)
        ordered = sorted(model_labels, key=lambda lb: (-profiles.loc[lb, "gross_revenue_median"], lb))
        segment_of_label = {lb: model.segment_ids[lb] for lb in model_labels}
        # the model's centres: the previous cycle run (this model's fit or an assignment with it)
        # has the same ones, at distance 0
        matches = {
            lb: matching.Match(
                lb, segment_of_label[lb], model.segment_names[segment_of_label[lb]], 0.0, "centre"
            )
            for lb in model_labels
        }
        archetypes = {lb: model.segment_names[segment_of_label[lb]] for lb in model_labels}
        segment_ids = np.array([segment_of_label[int(lb)] for lb in labels])
        ari, compared = matching.ari_vs_previous(
            frame["customer_id"], segment_ids, previous.labels if previous else None
        )
    with timer("rules"):
        ruleset = insider_rules(frame, labels == insider)

    run.model = model
    run.segment_rows = [
        _segment_row(lb, matches[lb], archetypes[lb], lb == insider, profiles, centre_fitted, centre_original)
        for lb in ordered
    ]
    run.customer_rows = _customer_rows(frame, x, labels, segment_ids, estimator, centre_fitted)
    run.candidates = candidates_frame([])  # nothing was selected
    run.rules = ruleset.rules
    ins = profiles.loc[insider]
    run.algorithm, run.k, run.selection_tier = algorithm, k, chosen.tier
    run.silhouette, run.davies_bouldin = chosen.silhouette, chosen.davies_bouldin
    run.calinski_harabasz, run.inertia, run.bic = chosen.calinski_harabasz, chosen.inertia, chosen.bic
    run.insiders_segment_id = model.insiders_segment_id
    run.insiders_share, run.insiders_revenue_share = (
        float(ins["share_of_customers"]),
        float(ins["revenue_share"]),
    )
    run.previous_run_id = previous.run_id if previous else None
    run.adjusted_rand_index, run.customers_compared = ari, compared
    run.rules_fidelity = ruleset.fidelity
    run.parameters.update(rule_features=list(ruleset.features), matched_by="centre")
    run.segments = [_summary(seg, profiles.loc[seg["model_label"]]) for seg in run.segment_rows]
    return run


# ------------------------------------------------------------------------------------------- helpers
def _parameters(k_range, families, rule: SelectionRule) -> dict:
    return {
        "k_range": list(k_range),
        "families": list(families),
        "selection_rule": rule.as_dict(),
        "max_centre_distance": matching.MAX_CENTRE_DISTANCE,
        "min_jaccard": matching.MIN_JACCARD,
    }


def _record_failure(conn, run: SegmentationRun, exc: Exception) -> None:
    """Roll the run's writes back and record it as failed; never hides ``exc`` (the database may be
    what failed, e.g. a dropped connection, which the cycle retries)."""
    try:
        conn.rollback()
        store.record_failed_run(conn, run.run_row(error=f"{type(exc).__name__}: {exc}"))
    except Exception:
        log.warning("could not record the failed segmentation run %s", run.run_id, exc_info=True)
        with suppress(Exception):
            conn.rollback()


def _match(preparation, centre_fitted, ordered, frame, labels, previous: store.PreviousRun | None):
    """Pairs (index in ``ordered``, row of the previous segments, cost) and the method used."""
    if previous is None or previous.segments.empty:
        return [], None
    if previous.features == list(feats.FEATURES):
        prev_points = pd.DataFrame(list(previous.segments["centre_original"]))[list(feats.FEATURES)]
        prev_fitted = feats.to_fitted_space(preparation, prev_points)
        cost = matching.centre_costs(centre_fitted[ordered], prev_fitted)
        return matching.hungarian(cost, matching.MAX_CENTRE_DISTANCE), "centre"
    log.info("previous run %s used other features: matching segments by shared customers", previous.run_id)
    cost = matching.overlap_costs(
        frame["customer_id"], labels, ordered, previous.labels, list(previous.segments["segment_id"])
    )
    return matching.hungarian(cost, 1 - matching.MIN_JACCARD), "overlap"


def _archetypes(ordered, matches, insider, profiles) -> dict[int, str]:
    """A matched segment keeps the previous run's archetype; the others get the nearest free one."""
    names = {insider: naming.INSIDERS}
    for lb in ordered:
        previous_name = matches[lb].previous_name
        if lb != insider and previous_name and previous_name != naming.INSIDERS:
            names[lb] = previous_name
    fresh = [lb for lb in ordered if lb not in names]
    names.update(naming.archetype_names(profiles, fresh, taken=set(names.values())))
    return names


def _segment_row(label, match, archetype, is_insider, profiles, centre_fitted, centre_original) -> dict:
    p = profiles.loc[label]
    return {
        "segment_id": match.segment_id,
        "archetype": archetype,
        "is_insider": bool(is_insider),
        "model_label": int(label),
        "size": int(p["size"]),
        "centre": dict(zip(feats.FEATURES, centre_fitted[label].tolist(), strict=True)),
        "centre_original": centre_original.iloc[label].to_dict(),
        "profile": {
            "r_rank": p["r_rank"],
            "f_rank": p["f_rank"],
            "m_rank": p["m_rank"],
            "mean": {c: p[f"{c}_mean"] for c in feats.FEATURES},
            "median": {c: p[f"{c}_median"] for c in feats.FEATURES},
        },
        "matched_by": match.method,
        "match_cost": match.cost,
    }


def _summary(seg: dict, profile: pd.Series) -> SegmentSummary:
    median = seg["profile"]["median"]
    return SegmentSummary(
        segment_id=seg["segment_id"],
        segment_name=seg["archetype"],
        is_insider=seg["is_insider"],
        size=seg["size"],
        share_of_customers=float(profile["share_of_customers"]),
        revenue_share=float(profile["revenue_share"]),
        median_gross_revenue=float(median["gross_revenue"]),
        median_purchases=float(median["purchases"]),
        median_recency_days=float(median["recency_days"]),
        matched_by=seg["matched_by"],
    )


def _customer_rows(frame, x, labels, segment_ids, estimator, centre_fitted) -> pd.DataFrame:
    distance = np.linalg.norm(x - centre_fitted[labels], axis=1)
    probability = estimator.predict_proba(x).max(axis=1) if hasattr(estimator, "predict_proba") else None
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "segment_id": segment_ids,
            "distance_to_centre": distance,
            "probability": probability if probability is not None else np.nan,
            # the clustering features as the customer had them at this run (original units), so
            # marts can say what changed for a customer who left a segment
            "features": frame[list(feats.FEATURES)].to_dict("records"),
        }
    )


def _is_plain(value) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def new_run_id(at: datetime) -> str:
    """Sortable and unique: ``20111210T061502Z-3fa2c1``."""
    return f"{at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def code_version() -> str:
    """Package version plus ``git describe`` of the project when git and the repository are there."""
    from insiders.settings import PROJECT_ROOT

    version = insiders.__version__
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return version
    described = out.stdout.strip()
    return f"{version}+git.{described}" if out.returncode == 0 and described else version


@contextmanager
def _dbapi(conn_or_engine) -> Iterator:
    if isinstance(conn_or_engine, sa.Engine):
        pooled = conn_or_engine.raw_connection()
        try:
            yield pooled.dbapi_connection
        finally:
            pooled.close()
    else:
        yield conn_or_engine


@contextmanager
def _autocommit_off(conn) -> Iterator[None]:
    """The run's writes must be one transaction, even on a connection the caller set to autocommit."""
    before = conn.autocommit
    if before:
        conn.autocommit = False
    try:
        yield
    finally:
        if before and not conn.closed:
            conn.rollback()
            conn.autocommit = True
