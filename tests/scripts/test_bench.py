"""`make bench` as a fresh clone runs it: a small cut of the shared file through the cold and the daily
cycle, on a real server whose URL names a passfile (as the embedded server's does), printing its figures."""

from __future__ import annotations

import os
import subprocess
import sys

from insiders.settings import PROJECT_ROOT
from tests.conftest import require_shared_file
from tests.helpers import cut_sample


def test_bench_runs_a_cold_and_a_daily_cycle_and_prints_its_figures(pg_admin_url, tmp_path):
    sample = cut_sample(require_shared_file(), tmp_path / "bench_smoke_sample.csv.gz", 3000, every=150)
    env = {
        **os.environ,
        "INSIDERS_DATABASE_URL": pg_admin_url.render_as_string(hide_password=False),
        "INSIDERS_HOME": str(tmp_path / "home"),
    }
    out = subprocess.run(
        [sys.executable, "scripts/bench.py", "--data", str(sample), "--daily"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    for figure in ("loader / plain COPY", "peak RSS (ru_maxrss)", "database size", "daily"):
        assert figure in out.stdout, out.stdout[-3000:]


def test_the_peak_memory_counts_the_python_children_beside_the_process():
    """The backtest's fit runs in a child process beside the cycle: the bench's RSS figure includes it."""
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    import bench

    alone = bench.rss_mb()
    holder = "b = b'x' * (300 * 2**20); import sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); input()"
    child = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline() == "ready\n"
        assert bench.rss_mb() - alone > 250  # the child's 300 MB, whatever else moved
    finally:
        child.communicate("\n")
