"""run_segmentation end to end on a real Postgres: build a features table, run, query ml.*."""

from __future__ import annotations

import numpy as np
import psycopg2
import pytest
import sqlalchemy as sa
from sklearn.metrics import adjusted_rand_score

from insiders import db
from insiders.errors import UserError
from insiders.segment import run_segmentation, store
from tests.insiders.segment.synthetic import (
    labels_of,
    query,
    retail_like_customers,
    separated_customers,
    write_features,
)


def test_obvious_groups_are_recovered_and_the_big_spenders_are_the_insiders(pg_conn, separated, settings):
    frame, group = separated

    result = run_segmentation(pg_conn, settings)

    labels = labels_of(pg_conn, result.run_id)
    assert len(labels) == len(frame)
    found = np.array([labels[c] for c in frame["customer_id"]])
    assert adjusted_rand_score(group, found) > 0.99
    assert (result.algorithm, result.k, result.selection_tier) == ("kmeans", 4, 1)

    insiders = {c for c, s in labels.items() if s == result.insiders_segment_id}
    assert insiders == set(frame.loc[group == 0, "customer_id"])  # group 0: the 25,000-a-year customers
    segments = query(
        pg_conn, "select archetype, is_insider, size from ml.segments where run_id = %s", (result.run_id,)
    )
    assert len(segments) == 4
    assert len({name for name, *_ in segments}) == 4
    assert [(name, size) for name, is_insider, size in segments if is_insider] == [("Insiders", 30)]
    [(status, n, k, previous)] = query(
        pg_conn,
        "select status, n_customers, chosen_k, previous_run_id from ml.segmentation_runs where run_id = %s",
        (result.run_id,),
    )
    assert (status, n, k, previous) == ("succeeded", 300, 4, None)
    assert result.insiders_share == pytest.approx(0.10)
    assert result.insiders_revenue_share > 0.5


def test_same_seed_gives_identical_labels(pg_conn, settings):
    write_features(pg_conn, retail_like_customers(n=1200, seed=3))  # overlapping, not obvious

    first = run_segmentation(pg_conn, settings, seed=5)
    second = run_segmentation(pg_conn, settings, seed=5)

    assert labels_of(pg_conn, first.run_id) == labels_of(pg_conn, second.run_id)
    assert second.previous_run_id == first.run_id
    assert second.adjusted_rand_index == pytest.approx(1.0)
    assert [(s.segment_id, s.segment_name) for s in first.segments] == [
        (s.segment_id, s.segment_name) for s in second.segments
    ]


def test_another_seed_keeps_segment_ids_and_names_and_records_ari(pg_conn, separated, settings):
    frame, _ = separated
    first = run_segmentation(pg_conn, settings, seed=1)
    before = labels_of(pg_conn, first.run_id)
    names_before = {s.segment_id: s.segment_name for s in first.segments}

    second = run_segmentation(pg_conn, settings, seed=2)

    after = labels_of(pg_conn, second.run_id)
    assert after == before  # same partition, and each segment kept its id...
    assert {s.segment_id: s.segment_name for s in second.segments} == names_before  # ...and its name
    assert all(s.matched_by == "centre" for s in second.segments)
    [(previous, ari, compared)] = query(
        pg_conn,
        """select previous_run_id, adjusted_rand_index, customers_compared from ml.segmentation_runs
           where run_id = %s""",
        (second.run_id,),
    )
    assert (previous, compared) == (first.run_id, len(frame))
    assert ari == pytest.approx(1.0)


def test_a_new_segment_gets_a_new_id_and_the_others_keep_theirs(pg_conn, settings):
    full, group = separated_customers(n=400)
    write_features(pg_conn, full[group != 1])  # first without the "regulars"
    first = run_segmentation(pg_conn, settings, k_range=[3])
    with pg_conn.cursor() as cur:
        cur.execute("drop table marts.customer_features")
    pg_conn.commit()
    write_features(pg_conn, full)

    second = run_segmentation(pg_conn, settings, k_range=[4])

    old = {s.segment_id: s.segment_name for s in first.segments}
    new = {s.segment_id: s.segment_name for s in second.segments}
    assert set(old) == {1, 2, 3}
    assert set(new) == {1, 2, 3, 4}
    assert {i: new[i] for i in old} == old
    (regulars_id,) = {
        sid
        for c, sid in labels_of(pg_conn, second.run_id).items()
        if c in set(full.loc[group == 1, "customer_id"])
    }
    assert regulars_id == 4
    assert len(set(new.values())) == 4
    assert second.customers_compared == len(full[group != 1])
    assert 0 < second.adjusted_rand_index <= 1


def test_a_failure_mid_write_leaves_no_partial_run_and_records_the_failure(
    pg_conn, separated, settings, monkeypatch
):
    inserted = []
    original_insert_run = store.insert_run

    def spy_insert_run(conn, run):
        inserted.append(run["status"])
        return original_insert_run(conn, run)

    def broken_writer(conn, run_id, labels):
        raise RuntimeError("disk full (injected)")

    monkeypatch.setattr(store, "insert_run", spy_insert_run)
    monkeypatch.setattr(store, "write_customer_segments", broken_writer)

    with pytest.raises(RuntimeError, match="injected"):
        run_segmentation(pg_conn, settings)

    assert inserted == ["succeeded", "failed"]  # the run row was written before the failure
    runs = query(pg_conn, "select run_id, status, error, artifact_uri from ml.segmentation_runs")
    assert len(runs) == 1
    run_id, status, error, artifact_uri = runs[0]
    assert status == "failed"
    assert "disk full (injected)" in error
    assert artifact_uri  # the model was saved before the write: the failed run says where
    for table in ("segmentation_candidates", "segments", "customer_segments", "insider_rules"):
        assert query(pg_conn, f"select count(*) from ml.{table}") == [(0,)], table

    monkeypatch.undo()
    retry = run_segmentation(pg_conn, settings)
    assert retry.previous_run_id is None  # a failed run is never the previous run


def test_a_connection_dropped_mid_write_leaves_nothing_and_raises_the_database_error(
    pg_conn, separated, settings, database_url, monkeypatch
):
    original = store.write_customer_segments

    def killed_midway(conn, run_id, labels):
        with db.raw_connection(database_url) as other:
            other.autocommit = True
            with other.cursor() as cur:
                cur.execute("select pg_terminate_backend(%s)", (conn.get_backend_pid(),))
        return original(conn, run_id, labels)

    monkeypatch.setattr(store, "write_customer_segments", killed_midway)
    with pytest.raises(psycopg2.OperationalError):  # what the cycle's retry treats as transient
        run_segmentation(pg_conn, settings)

    with db.raw_connection(database_url) as fresh:
        assert query(fresh, "select count(*) from ml.segmentation_runs") == [(0,)]
        assert query(fresh, "select count(*) from ml.customer_segments") == [(0,)]


def test_missing_features_table_is_a_user_error_and_a_failed_run(pg_conn, settings):
    with pytest.raises(UserError, match=r"marts\.customer_features does not exist"):
        run_segmentation(pg_conn, settings)
    assert query(pg_conn, "select status, n_customers from ml.segmentation_runs") == [("failed", None)]


def test_features_are_read_from_the_schema_and_date_asked_for(pg_conn, settings):
    frame, _ = separated_customers(n=120)
    write_features(pg_conn, frame, schema="marts_next")

    result = run_segmentation(pg_conn, settings, features_schema="marts_next", as_of_date="2011-12-10")
    assert result.n_customers == 120
    assert str(result.as_of_date) == "2011-12-10"

    with pytest.raises(UserError, match="no customers as of 2011-12-11"):
        run_segmentation(pg_conn, settings, features_schema="marts_next", as_of_date="2011-12-11")


def test_runs_from_an_sqlalchemy_engine(database_url, settings, pg_conn):
    frame, _ = separated_customers(n=120)
    write_features(pg_conn, frame)
    engine = sa.create_engine(database_url)
    try:
        result = run_segmentation(engine, settings)
    finally:
        engine.dispose()
    assert query(pg_conn, "select status from ml.segmentation_runs where run_id = %s", (result.run_id,)) == [
        ("succeeded",)
    ]
