"""What a run leaves behind: candidates, Insiders rules, the model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from insiders.segment import load_model, run_segmentation
from insiders.segment.artifact import MODEL_FILE
from tests.insiders.segment.synthetic import labels_of, query


def test_candidates_of_both_families_and_every_k_are_stored_with_exactly_one_chosen(
    pg_conn, separated, settings
):
    result = run_segmentation(pg_conn, settings, k_range=range(2, 9))

    rows = query(
        pg_conn,
        """select algorithm, k, silhouette, davies_bouldin, calinski_harabasz, inertia, bic, is_chosen,
                  selection_tier
           from ml.segmentation_candidates where run_id = %s order by algorithm, k""",
        (result.run_id,),
    )
    assert [(a, k) for a, k, *_ in rows] == [(a, k) for a in ("gmm", "kmeans") for k in range(2, 9)]
    chosen = [(a, k) for a, k, *rest in rows if rest[5]]
    assert chosen == [(result.algorithm, result.k)]
    for algorithm, _, silhouette, db, ch, inertia, bic, _, tier in rows:
        assert -1 <= silhouette <= 1 and db > 0 and ch > 0
        assert (inertia is not None, bic is not None) == (algorithm == "kmeans", algorithm == "gmm")
        assert tier in (1, 2, 3)
    [(params, features, k, sil)] = query(
        pg_conn,
        "select parameters, features, chosen_k, silhouette from ml.segmentation_runs where run_id = %s",
        (result.run_id,),
    )
    assert params["k_range"] == list(range(2, 9))
    assert params["selection_tier"] == 1
    assert params["selection_rule"]["insiders_share_max"] == 0.2
    assert features[0] == "gross_revenue"
    assert (k, sil) == (result.k, result.silhouette)


def test_insider_rules_are_readable_and_scored(pg_conn, separated, settings):
    result = run_segmentation(pg_conn, settings)

    rules = query(
        pg_conn,
        """select rule_id, rule_text, predicts_insider, support, precision, recall from ml.insider_rules
           where run_id = %s order by rule_id""",
        (result.run_id,),
    )
    assert rules
    assert rules[0][2] is True  # insider rules come first
    assert sum(support for *_, support, _, _ in rules) == 300  # leaves partition the customers
    for _, text, _, support, precision, recall in rules:
        assert text.strip() and support > 0
        assert 0 <= precision <= 1 and 0 <= recall <= 1
    insider_recall = sum(recall for _, _, is_insider, _, _, recall in rules if is_insider)
    assert insider_recall > 0.9
    [(fidelity,)] = query(
        pg_conn, "select rules_fidelity from ml.segmentation_runs where run_id = %s", (result.run_id,)
    )
    assert 0.9 <= fidelity <= 1
    assert fidelity == result.rules_fidelity


def test_the_model_file_reloads_and_predicts_the_stored_labels(pg_conn, separated, settings):
    frame, _ = separated
    result = run_segmentation(pg_conn, settings, seed=3)

    path = settings.artifact_dir / result.run_id / MODEL_FILE
    assert path.is_file()
    [(uri,)] = query(
        pg_conn, "select artifact_uri from ml.segmentation_runs where run_id = %s", (result.run_id,)
    )
    assert uri == path.resolve().as_uri()
    assert Path(result.artifact_path) == path

    model = load_model(uri)
    stored = labels_of(pg_conn, result.run_id)
    predicted = model.predict(frame.sample(frac=1.0, random_state=0))  # any row order
    expected = [stored[c] for c in frame.sample(frac=1.0, random_state=0)["customer_id"]]
    assert list(predicted) == expected
    assert model.segment_names[model.insiders_segment_id] == "Insiders"
    assert [name for name, _ in model.pipeline.steps] == ["impute", "log1p", "scale", "weigh", "cluster"]

    nulls = frame.head(3).assign(avg_days_between_purchases=np.nan)  # one-day customers: imputed
    assert len(model.predict(nulls)) == 3
