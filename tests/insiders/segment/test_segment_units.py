"""The pure pieces: preparation and weights, silhouette, the selection rule, names, matching, rule text,
code version."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import pairwise_distances, silhouette_score

from insiders.segment import features, job, matching, naming, rules, store
from insiders.segment.model import (
    Candidate,
    SelectionRule,
    choose,
    fit_candidates,
    silhouette_from_distances,
)
from tests.insiders.segment.synthetic import retail_like_customers, separated_customers


def test_revenue_weighs_four_times_as_much_as_each_behaviour_feature():
    frame = features.prepare_frame(retail_like_customers(n=800, seed=2))
    preparation = features.build_preparation().fit(frame[list(features.FEATURES)])
    x = preparation.transform(frame[list(features.FEATURES)])

    spread = dict(zip(features.FEATURES, x.std(axis=0), strict=True))
    assert spread.pop("gross_revenue") == pytest.approx(features.REVENUE_WEIGHT)
    assert all(s == pytest.approx(1.0) for s in spread.values())
    # points of the fitted space (centres) go back to original units through the weights
    back = features.to_original_units(preparation, x)
    expected = frame[list(features.FEATURES)].fillna({features.CADENCE: features.ONE_DAY_CADENCE})
    np.testing.assert_allclose(back.to_numpy(), expected.to_numpy(), rtol=1e-9)


def _insiders_vs_top_spenders(frame: pd.DataFrame) -> float:
    """Jaccard index of the chosen model's Insiders and as many customers of the highest revenue."""
    frame = features.prepare_frame(frame)
    x = features.build_preparation().fit_transform(frame[list(features.FEATURES)])
    revenue = frame["gross_revenue"].to_numpy()
    labels = choose(fit_candidates(x, revenue, seed=42), SelectionRule()).labels
    insiders = labels == naming.insiders_label(labels, revenue)
    top = np.zeros(len(frame), dtype=bool)
    top[np.argsort(-revenue, kind="stable")[: insiders.sum()]] = True
    return (insiders & top).sum() / (insiders | top).sum()


def test_with_revenue_weighed_the_insiders_are_the_top_spenders_not_the_busiest(monkeypatch):
    # Shop-like customers: revenue grows with orders but overlaps. With every feature weighing the
    # same, the behaviour features (orders, products, cadence, recency) outvote revenue and the top
    # segment trades big spenders for busy mid-revenue buyers; with revenue weighed, the Insiders are
    # (nearly) the customers who spent most, which is what predicted the next quarter's revenue.
    customers = retail_like_customers(n=1500, seed=5)
    assert _insiders_vs_top_spenders(customers) > 0.85

    monkeypatch.setitem(features.FEATURE_WEIGHTS, "gross_revenue", 1.0)
    assert _insiders_vs_top_spenders(customers) < 0.8


def test_silhouette_from_distances_equals_sklearn():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(c, 1.0, size=(60, 3)) for c in (0, 3, 6)])
    labels = np.repeat([4, 1, 9], 60)
    labels[0] = 7  # a singleton cluster scores 0, as in sklearn
    distances = pairwise_distances(x)
    assert silhouette_from_distances(distances, labels) == pytest.approx(
        silhouette_score(distances, labels, metric="precomputed"), abs=1e-12
    )


def _cand(algorithm, k, silhouette, smallest=0.1, insiders=0.1):
    labels = np.arange(k)
    return Candidate(
        algorithm,
        k,
        None,
        labels,
        n_segments=k,
        silhouette=silhouette,
        smallest_share=smallest,
        insiders_share=insiders,
    )


def test_choice_prefers_eligible_candidates_over_a_better_silhouette():
    rule = SelectionRule()
    k2 = _cand("kmeans", 2, 0.40, smallest=0.45, insiders=0.45)  # best silhouette, half the customers
    k5 = _cand("kmeans", 5, 0.226)
    k6 = _cand("kmeans", 6, 0.229)  # within the tolerance of k5: the smaller k wins
    g5 = _cand("gmm", 5, 0.15)
    tiny = _cand("kmeans", 7, 0.30, smallest=0.01)  # a segment under 2%
    chosen = choose([k2, k5, k6, g5, tiny], rule)
    assert chosen is k5 and k5.is_chosen and not k6.is_chosen
    assert [c.tier for c in (k2, k5, k6, g5, tiny)] == [3, 1, 1, 1, 3]


def test_choice_falls_back_when_nothing_is_eligible():
    only_big = [_cand("kmeans", 4, 0.30, insiders=0.4), _cand("gmm", 5, 0.35, insiders=0.3)]
    assert choose(only_big, SelectionRule()).algorithm == "gmm"  # tier 2: best silhouette in range
    out_of_range = [_cand("kmeans", 2, 0.5), _cand("kmeans", 3, 0.6)]
    assert choose(out_of_range, SelectionRule()).k == 3  # tier 3


def test_an_archetype_is_shared_only_when_all_are_taken():
    rng = np.random.default_rng(1)
    profiles = pd.DataFrame(rng.uniform(0, 1, size=(14, 3)), columns=["r_rank", "f_rank", "m_rank"])
    names = naming.archetype_names(profiles, list(range(14)), taken={"Lost"})
    uses = Counter(names.values())
    assert set(uses) - {"Lost"} == set(naming.ARCHETYPES) - {"Lost"}  # every free archetype is used
    assert max(uses.values()) == 2 and naming.INSIDERS not in uses
    few = naming.archetype_names(profiles.head(5), list(range(5)), taken={"Lost"})
    assert len(set(few.values())) == 5 and "Lost" not in few.values()  # enough free ones: no sharing
    assert names == naming.archetype_names(profiles, list(range(14)), taken={"Lost"})  # deterministic


def test_names_follow_the_profile():
    profiles = pd.DataFrame(
        {"r_rank": [0.9, 0.1, 0.3], "f_rank": [0.1, 0.1, 0.7], "m_rank": [0.2, 0.1, 0.7]}, index=[0, 1, 2]
    )
    assert naming.archetype_names(profiles, [0, 1, 2]) == {0: "New customers", 1: "Lost", 2: "At risk"}


def test_insiders_are_the_segment_of_the_highest_median_revenue_not_mean():
    labels = np.array([0] * 5 + [1] * 5)
    revenue = np.array([100, 100, 100, 100, 100_000] + [5_000] * 5, dtype=float)  # 0 has one whale
    assert naming.insiders_label(labels, revenue) == 1


def test_overlap_matching_pairs_segments_sharing_customers():
    customers = pd.Series([f"c{i}" for i in range(9)])
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    previous = pd.Series([7, 7, 7, 3, 3, 3, 3, 3, 7], index=customers.to_numpy())
    cost = matching.overlap_costs(customers, labels, [0, 1, 2], previous, [3, 7])
    pairs = matching.hungarian(cost, 1 - matching.MIN_JACCARD)
    assert sorted((r, c) for r, c, _ in pairs) == [(0, 1), (1, 0)]  # 2 shares too little with 3 or 7
    prev = pd.DataFrame({"segment_id": [3, 7], "archetype": ["Lost", "Promising"]})
    ids = matching.assign_ids([0, 1, 2], pairs, prev, next_id=8, method="overlap")
    assert [(m.segment_id, m.previous_name) for m in ids.values()] == [
        (7, "Promising"),
        (3, "Lost"),
        (8, None),
    ]


def test_rule_text_reads_like_a_filter():
    integer = {"purchases": True, "gross_revenue": False}
    path = [("gross_revenue", ">", 3214.5), ("purchases", ">", 7.5), ("purchases", "<=", 20.5)]
    assert rules._path_text(path, integer) == "gross_revenue > 3,214.50 and purchases between 8 and 20"
    assert rules._path_text([("purchases", "<=", 1.5)], integer) == "purchases <= 1"


def test_rule_conditions_are_the_path_merged_per_feature():
    path = [("gross_revenue", ">", 1000.0), ("purchases", ">", 7.5), ("gross_revenue", ">", 3214.5),
            ("purchases", "<=", 20.5)]  # fmt: skip
    assert rules._conditions(path) == (
        rules.Condition("gross_revenue", ">", 3214.5),
        rules.Condition("purchases", ">", 7.5),
        rules.Condition("purchases", "<=", 20.5),
    )


def test_every_customer_matched_by_a_rule_meets_all_its_conditions():
    frame, _ = separated_customers(n=300, seed=7)
    run = job.segment(frame, None, seed=1, k_range=range(3, 6))
    x = frame[list(rules.RULE_FEATURES)].astype(float)
    x = x.fillna(x.median()).fillna(0.0)  # as the tree saw them
    assert run.rules and all(r.conditions for r in run.rules)
    for rule in run.rules:
        met = np.ones(len(frame), dtype=bool)
        for c in rule.conditions:
            met &= (x[c.feature] > c.threshold) if c.operator == ">" else (x[c.feature] <= c.threshold)
        assert int(met.sum()) == rule.support  # the conditions select exactly the customers the rule matched


def test_code_version_without_git(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(job.subprocess, "run", no_git)
    assert job.code_version() == job.insiders.__version__


def _as_previous(run: job.SegmentationRun, next_id: int = 100) -> store.PreviousRun:
    segments = pd.DataFrame(run.segment_rows)[["segment_id", "archetype", "is_insider", "centre_original"]]
    labels = run.customer_rows.set_index("customer_id")["segment_id"]
    return store.PreviousRun(run.run_id, list(features.FEATURES), segments, labels, next_id)


def test_segment_is_pure_repeatable_and_keeps_ids_against_the_previous_run():
    frame, _ = separated_customers(n=300, seed=7)
    first = job.segment(frame, None, seed=1, k_range=range(3, 6))  # no database, no files
    again = job.segment(frame, None, seed=1, k_range=range(3, 6))
    assert first.customer_rows["segment_id"].tolist() == again.customer_rows["segment_id"].tolist()
    assert first.previous_run_id is None and first.adjusted_rand_index is None
    assert sum(s.is_insider for s in first.segments) == 1

    second = job.segment(frame, _as_previous(first), seed=2, k_range=range(3, 6))
    assert second.previous_run_id == first.run_id
    assert {s.segment_id: s.segment_name for s in second.segments} == {
        s.segment_id: s.segment_name for s in first.segments
    }  # matched to the previous run: same ids, same archetypes
    assert second.adjusted_rand_index == pytest.approx(1.0)
    row = second.run_row()
    assert (row["status"], row["chosen_k"], row["previous_run_id"]) == ("succeeded", second.k, first.run_id)
