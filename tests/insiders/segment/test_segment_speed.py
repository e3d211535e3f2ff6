"""A shop-sized run: ~4,400 skewed, overlapping customers, the size of the real file."""

from __future__ import annotations

import time

from insiders.segment import run_segmentation
from tests.insiders.segment.synthetic import query, retail_like_customers, write_features

BUDGET_SECONDS = 12  # measured ~2.5 s on 2 idle cores; generous so a busy CI machine does not flake


def test_a_shop_sized_run_is_fast_and_finds_a_small_valuable_insiders_segment(pg_conn, settings):
    write_features(pg_conn, retail_like_customers(n=4400))

    t0 = time.perf_counter()
    result = run_segmentation(pg_conn, settings)
    seconds = time.perf_counter() - t0

    assert seconds < BUDGET_SECONDS, result.timings
    assert result.n_customers == 4400
    assert result.selection_tier == 1
    assert 4 <= result.k <= 8
    assert 0.05 <= result.insiders_share <= 0.20
    assert result.insiders_revenue_share > 3 * result.insiders_share
    assert query(pg_conn, "select count(*) from ml.customer_segments") == [(4400,)]
