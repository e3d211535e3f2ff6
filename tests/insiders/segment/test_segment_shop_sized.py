"""A shop-sized run: ~4,400 skewed, overlapping customers, the size of the real file.

Timings are measured by scripts/bench.py, never asserted here."""

from __future__ import annotations

from insiders.segment import run_segmentation
from tests.insiders.segment.synthetic import labels_of, query, retail_like_customers, write_features


def test_a_shop_sized_run_finds_a_small_valuable_insiders_segment(pg_conn, settings):
    customers = retail_like_customers(n=4400)
    write_features(pg_conn, customers)

    result = run_segmentation(pg_conn, settings)

    assert result.n_customers == 4400
    assert result.selection_tier == 1
    assert 4 <= result.k <= 8
    assert 0.05 <= result.insiders_share <= 0.20
    assert result.insiders_revenue_share > 3 * result.insiders_share
    assert query(pg_conn, "select count(*) from ml.customer_segments") == [(4400,)]
    # revenue weighs most (see features): the Insiders are mostly the customers who spent most
    labels = labels_of(pg_conn, result.run_id)
    insiders = {c for c, s in labels.items() if s == result.insiders_segment_id}
    top = set(customers.nlargest(len(insiders), "gross_revenue")["customer_id"])
    assert len(insiders & top) / len(insiders | top) > 0.85
