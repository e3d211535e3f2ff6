"""Benchmark of the whole cycle on the shared file: time of each step and peak memory.

    python scripts/bench.py [--data PATH] [--repeat N]

Runs in a database of its own (``insiders_bench`` on the embedded Postgres or on the server of
INSIDERS_DATABASE_URL), dropped first: a cold cycle (loads the file), then N warm cycles (file
already loaded: the "warm database" figure). Prints seconds per step and the process's peak RSS
sampled during each step. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from pathlib import Path

from pydantic import SecretStr

from insiders import db
from insiders.cycle import run_cycle
from insiders.settings import Settings, get_settings

BENCH_DB = "insiders_bench"


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakSampler:
    """Samples the RSS every 20 ms; ``take()`` returns the peak since the last call."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def take(self) -> float:
        peak, self.peak = max(self.peak, rss_mb()), rss_mb()
        return peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def bench_settings(base: Settings) -> Settings:
    url = db.ensure_database_ready(base)
    admin = url.set(database="postgres")
    with db.raw_connection(admin) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{BENCH_DB}" with (force)')
    db.ensure_database(admin, BENCH_DB)
    home = base.home / "bench"
    return base.model_copy(
        update=dict(
            database_url=SecretStr(url.set(database=BENCH_DB).render_as_string(hide_password=False)),
            home=home,
            artifact_dir=home / "artifacts",
            report_dir=home / "reports",
        )
    )


def one_cycle(settings: Settings, data: Path, label: str, sampler: PeakSampler) -> list[tuple]:
    rows: list[tuple] = []
    sampler.take()

    def on_step(step: str, seconds: float) -> None:
        rows.append((label, step, seconds, sampler.take()))

    t0 = time.perf_counter()
    run_cycle(settings, [str(data)], on_step=on_step)
    rows.append((label, "TOTAL (after database start)", time.perf_counter() - t0 - rows[0][2], None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=get_settings().data_path)
    parser.add_argument("--repeat", type=int, default=2, help="warm cycles after the cold one")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = bench_settings(get_settings())
    sampler = PeakSampler()
    rows = one_cycle(settings, args.data, "cold", sampler)
    for i in range(args.repeat):
        rows += one_cycle(settings, args.data, f"warm {i + 1}", sampler)
    sampler.stop()
    print(f"\n{'cycle':<8} {'step':<30} {'seconds':>8} {'peak RSS MB':>12}")
    for label, step, seconds, peak in rows:
        print(f"{label:<8} {step:<30} {seconds:8.2f} {'' if peak is None else f'{peak:12.0f}'}")
    print(f"\nprocess peak RSS (ru_maxrss): {__import__('resource').getrusage(0).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
