"""Segmentation at scale (issue 11): GaussianMixture fitted on a seeded sample above
``gmm_fit_sample`` customers, unchanged below it."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from insiders.segment import job
from insiders.segment.model import fit_candidates, fit_rows
from tests.insiders.segment.synthetic import retail_like_customers


def _comparable(run: job.SegmentationRun):
    return (
        run.customer_rows[["customer_id", "segment_id", "distance_to_centre", "probability"]],
        run.candidates.drop(columns="fit_seconds"),
        [(s.segment_id, s.segment_name, s.size) for s in run.segments],
    )


def test_at_the_shared_files_size_the_sample_changes_nothing():
    frame = retail_like_customers(n=4334, seed=11)  # as many customers as the shared file
    sampled = job.segment(frame, None, seed=42, k_range=range(3, 7), gmm_fit_sample=50_000)
    everyone = job.segment(frame, None, seed=42, k_range=range(3, 7), gmm_fit_sample=None)
    for a, b in zip(_comparable(sampled), _comparable(everyone), strict=True):
        if hasattr(a, "equals"):
            assert a.equals(b)
        else:
            assert a == b
    assert sampled.parameters["gmm_fit_sample_size"] == 4334


def test_above_the_sample_size_a_mixture_is_fitted_on_the_sample_and_predicts_everyone():
    assert fit_rows(4334, 50_000, 42) is None and fit_rows(10, None, 42) is None
    rows = fit_rows(6000, 1500, 42)
    assert len(rows) == len(set(rows)) == 1500 and (np.diff(rows) > 0).all()
    assert np.array_equal(rows, fit_rows(6000, 1500, 42))  # seeded

    frame = retail_like_customers(n=6000, seed=3)
    from insiders.segment import features as feats

    x = feats.build_preparation().fit_transform(frame[list(feats.FEATURES)])
    revenue = frame["gross_revenue"].to_numpy()
    sampled = fit_candidates(x, revenue, k_range=[4], families=("gmm", "kmeans"), gmm_fit_sample=1500)
    full = fit_candidates(x, revenue, k_range=[4], families=("gmm", "kmeans"), gmm_fit_sample=None)
    gmm_s, km_s = sampled
    gmm_f, km_f = full
    assert len(gmm_s.labels) == 6000  # everyone predicted
    assert not np.allclose(gmm_s.estimator.means_, gmm_f.estimator.means_)  # really another fit
    assert adjusted_rand_score(gmm_f.labels, gmm_s.labels) > 0.8  # and nearly the same segments
    assert np.array_equal(km_s.labels, km_f.labels)  # KMeans is always fitted on everyone
