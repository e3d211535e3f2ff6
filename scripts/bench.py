"""Benchmark of the whole cycle: time of each step and of each dbt call, load beside a plain COPY,
peak memory, database size.

    python scripts/bench.py [--scale N] [--years] [--daily] [--repeat N] [--data PATH]
                            [--no-manifest-reuse] [--dbt-startup] [--profile FILE] [--target spark]
    make bench SCALE=10 [DAILY=1] [YEARS=1] [REPEAT=1]
    INSIDERS_TARGET=spark make bench          (also the Spark cycle, after the Postgres one)

Runs in a database of its own (``insiders_bench`` on the embedded Postgres or on the server of
INSIDERS_DATABASE_URL), dropped first: a cold cycle on a fresh database (loads the file), then N warm
cycles (file already loaded). ``--scale N`` > 1 generates N copies of the shared file first
(scripts/generate_data.py; cached under bench-data/, git-ignored); ``--daily`` loads all but the last
day in the cold cycle, then runs a daily cycle that receives the last day's file on top. After the
cycles: the same gzip file through a plain ``gzip -dc | psql \\copy`` into a table shaped like
raw.transactions (side by side with the loader), and the database size. Prints seconds per step, the
process's peak RSS sampled during each step (with its Python children: the backtest fit alongside),
ru_maxrss of the process and of its children, the load average; writes the figures as JSON under
bench-results/. Timings are printed, never asserted.

``--target spark`` (the default when INSIDERS_TARGET=spark): after the Postgres cycles, a cold Spark
cycle (insiders.warehouse.spark_cycle, a fresh warehouse under the bench's home) on the same file(s),
its seconds per step (the cycle's own step timings) printed beside the Postgres cold cycle's. The
Spark JVM is a child process: its memory is not in the peak RSS figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

import insiders.cycle
from insiders import db
from insiders.dbt import MANIFESTS
from insiders.settings import PROJECT_ROOT, Settings, get_settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate_data  # the generator beside this script

BENCH_DB = "insiders_bench"
DATA_DIR = PROJECT_ROOT / "bench-data"
RESULTS_DIR = PROJECT_ROOT / "bench-results"


def _statm_mb(pid: str) -> float:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError, ValueError):  # a child that just ended
        return 0.0


def _python_children() -> list[str]:
    """This process's child processes but the Spark JVM (the backtest fit alongside)."""
    pids: list[str] = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += (task / "children").read_text().split()
        except OSError:
            continue
    return [p for p in pids if "java" not in Path(f"/proc/{p}/comm").read_text(errors="replace")]


def rss_mb() -> float:
    """The RSS of this process plus its Python children's, which run beside it (their pages shared
    with it since the fork are counted twice: an upper bound)."""
    return _statm_mb("self") + sum(_statm_mb(p) for p in _python_children())


class PeakSampler:
    """Samples the RSS (this process and its Python children, ``rss_mb``) every 20 ms; ``take()``
    returns the peak since the last call."""

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


class DbtCalls(logging.Handler):
    """Collects insiders.dbt's one line per dbt call (command, seconds, how the manifest came)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.calls: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "dbt_command"):
            self.calls.append(
                {"command": record.dbt_command, "seconds": record.seconds, "manifest": record.manifest}
            )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def bench_data(source: Path, scale: int, *, years: bool, daily: bool) -> list[Path]:
    """The file(s) of the cold cycle and, with ``daily``, the day file: generated once, then cached."""
    if scale == 1 and not (years or daily):
        return [source]
    name = f"{source.name.removesuffix('.gz').removesuffix('.csv')}_x{scale}{'_years' if years else ''}"
    out = DATA_DIR / f"{name}{'_daily' if daily else ''}.csv.gz"
    paths = [out, generate_data.day_path(out)] if daily else [out]
    if not all(p.exists() for p in paths):
        t0 = time.perf_counter()
        written = generate_data.generate(source, out, scale, years=years, daily=daily)
        print(f"generated {', '.join(f'{p.name} ({n:,} lines)' for p, n in written.items())} "
              f"in {time.perf_counter() - t0:.0f}s", flush=True)  # fmt: skip
    return paths


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
            dbt_target_path=home / "target",
        )
    )


def capture_dbt_results(store: list) -> None:
    """Keeps each cycle dbt call's results (per-node timings) for the profile table."""
    original = insiders.cycle.run_dbt

    def keeping(command, *args, **kwargs):
        result = original(command, *args, **kwargs)
        store.append((" ".join(command), result))
        return result

    insiders.cycle.run_dbt = keeping


def one_cycle(
    settings: Settings,
    sources: list[Path],
    label: str,
    sampler: PeakSampler,
    dbt_calls: DbtCalls,
    run_cycle=None,
    rows: list[tuple] | None = None,
) -> tuple[list[tuple], object]:
    rows = [] if rows is None else rows  # given: the caller keeps the steps done if the cycle fails
    sampler.take()
    first_call = len(dbt_calls.calls)

    def on_step(step: str, seconds: float) -> None:
        rows.append((label, step, seconds, sampler.take()))
        print(f"  {label} {step}: {seconds:.1f}s (load average {load_average()})", flush=True)

    t0 = time.perf_counter()
    plan = insiders.cycle.CyclePlan.for_run(settings, [str(s) for s in sources], 42)
    outcome = (run_cycle or insiders.cycle.run_cycle)(settings, plan=plan, on_step=on_step)
    rows.append((label, "TOTAL (after database start)", time.perf_counter() - t0 - rows[0][2], None))
    for call in dbt_calls.calls[first_call:]:
        rows.append((label, f"  dbt {call['command'][:28]} ({call['manifest']})", call["seconds"], None))
    return rows, outcome


def spark_settings(settings: Settings) -> Settings:
    """The bench's settings on Spark: a fresh warehouse and dbt target folder of its own."""
    spark = settings.model_copy(update={"target": "spark", "dbt_target_path": settings.home / "target-spark"})
    shutil.rmtree(spark.spark_home, ignore_errors=True)
    shutil.rmtree(spark.dbt_target_path, ignore_errors=True)
    return spark


def side_by_side(postgres: dict[str, float], spark: dict[str, float], *, complete: bool = True) -> list[str]:
    """Seconds per step of the two cold cycles, the steps of either in cycle order; the total over
    every step, or (a Spark cycle that failed: ``complete`` False) over the steps both ran."""
    steps = [*postgres, *(s for s in spark if s not in postgres)]
    both = steps if complete else [s for s in steps if s in postgres and s in spark]
    total = "TOTAL" if complete else "TOTAL of the steps both ran"
    lines = [f"{'step':<28} {'postgres':>9} {'spark':>9} {'spark / pg':>11}"]
    for step in [*steps, total]:
        pg = sum(postgres.get(s, 0.0) for s in both) if step == total else postgres.get(step)
        sp = sum(spark.get(s, 0.0) for s in both) if step == total else spark.get(step)
        ratio = f"{sp / pg:10.1f}x" if pg and sp is not None else ""
        cells = ["" if v is None else f"{v:9.1f}" for v in (pg, sp)]
        lines.append(f"{step:<28} {cells[0]:>9} {cells[1]:>9} {ratio:>11}")
    return lines


def plain_copy(settings: Settings, path: Path) -> dict:
    """``gzip -dc file | psql \\copy`` into a table shaped like raw.transactions (same columns, same
    primary key, line numbers from an identity): the floor the loader is measured against."""
    url = db.ensure_database_ready(settings)
    env = {**os.environ, "PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432),
           "PGUSER": url.username or "", "PGDATABASE": url.database or "",
           "PGOPTIONS": "-c client_min_messages=warning"}  # fmt: skip
    if url.password:
        env["PGPASSWORD"] = url.password  # in the environment, never on a command line
    for param in ("passfile", "sslmode", "sslrootcert", "sslcert", "sslkey"):  # the embedded server's
        if url.query.get(param):  # passfile, a server's TLS settings: what the loader and dbt use too
            env[f"PG{param.upper()}"] = str(url.query[param])
    psql = shutil.which("psql") or str(db.find_pg_bin(settings) / "psql")
    ddl = """drop schema if exists bench_copy cascade; create schema bench_copy;
        create table bench_copy.transactions (
            file_id bigint not null default 1, line_number integer generated always as identity,
            invoice_no text, stock_code text, description text, quantity text, invoice_date text,
            unit_price text, customer_id text, country text, primary key (file_id, line_number));"""
    subprocess.run([psql, "-qX", "-v", "ON_ERROR_STOP=1", "-c", ddl], env=env, check=True)
    cols = "invoice_no, stock_code, description, quantity, invoice_date, unit_price, customer_id, country"
    copy = f"\\copy bench_copy.transactions ({cols}) from stdin with (format csv, header)"
    t0 = time.perf_counter()
    gz = subprocess.Popen(["gzip", "-dc", str(path)], stdout=subprocess.PIPE)
    subprocess.run([psql, "-qX", "-v", "ON_ERROR_STOP=1", "-c", copy], stdin=gz.stdout, env=env, check=True)
    gz.wait()
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(["gzip", "-dc", str(path)], stdout=subprocess.DEVNULL, check=True)
    gunzip = time.perf_counter() - t0
    subprocess.run([psql, "-qX", "-c", "drop schema bench_copy cascade"], env=env, check=True)
    return {"seconds": seconds, "gunzip_seconds": gunzip}


def database_size(settings: Settings) -> tuple[int, list[tuple[str, int]]]:
    url = db.ensure_database_ready(settings)
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute("select pg_database_size(current_database())")
        total = cur.fetchone()[0]
        cur.execute("""select n.nspname, sum(pg_total_relation_size(c.oid))::bigint
                       from pg_class c join pg_namespace n on n.oid = c.relnamespace
                       where c.relkind in ('r', 'm') and n.nspname not in ('pg_catalog', 'information_schema')
                       group by 1 order by 2 desc""")  # fmt: skip
        return total, cur.fetchall()


def dbt_profile(results: list) -> list[str]:
    """Per dbt call: wall time of its nodes by kind, and the slowest nodes."""
    lines = []
    for command, result in results:
        nodes = getattr(result, "results", None) or []
        by_kind: dict[str, list[float]] = {}
        for r in nodes:
            by_kind.setdefault(r.node.resource_type, []).append(r.execution_time or 0.0)
        kinds = ", ".join(f"{len(v)} {k}s {sum(v):.1f}s" for k, v in sorted(by_kind.items()))
        lines.append(f"  dbt {command}: {kinds} (node times add up over the threads)")
        slowest = sorted(nodes, key=lambda r: -(r.execution_time or 0.0))[:8]
        lines += [f"      {r.execution_time:6.2f}s  {r.node.resource_type:<5} {r.node.name}" for r in slowest]
    return lines


def startup_costs(settings: Settings) -> list[tuple[str, float]]:
    """Seconds of imports and of dbt's start-up options, each in a fresh interpreter or call."""
    from insiders.dbt import run_dbt

    out = []
    for what, code in [
        ("python -c pass", "pass"),
        ("import insiders.cli", "import insiders.cli"),
        ("import insiders.cycle", "import insiders.cycle"),
        ("import dbt.cli.main", "import dbt.cli.main"),
        ("import sklearn.mixture + cluster", "import sklearn.mixture, sklearn.cluster"),
        ("import pandas", "import pandas"),
    ]:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        out.append((what, time.perf_counter() - t0))
    url = db.ensure_database_ready(settings)
    cycle_vars = {"marts_schema": "marts__build", "backtest_horizon_days": settings.backtest_horizon_days}
    MANIFESTS.enabled = False
    for what, command in [
        ("dbt parse, full (--no-partial-parse)", ["parse", "--no-partial-parse"]),
        ("dbt parse, partial (same vars)", ["parse"]),
        ("dbt parse, full, --no-static-parser", ["parse", "--no-partial-parse", "--no-static-parser"]),
        ("dbt parse, full, --no-write-json", ["parse", "--no-partial-parse", "--no-write-json"]),
    ]:
        t0 = time.perf_counter()
        run_dbt(command, url, settings, cycle_vars, quiet=True)
        out.append((what, time.perf_counter() - t0))
    MANIFESTS.enabled = True
    MANIFESTS.clear()
    build = ["build", "--exclude", "source:ml+"]
    run_dbt(["parse"], url, settings, cycle_vars, quiet=True)
    for what, command, threads in [
        ("dbt build upstream, manifest reused, 2 threads", build, 2),
        ("dbt build upstream, reused, --no-write-json", [*build, "--no-write-json"], 2),
        ("dbt build upstream, reused, 1 thread", build, 1),
        ("dbt build upstream, reused, 4 threads", build, 4),
        ("dbt build upstream, reused, models only (run)", ["run", "--exclude", "source:ml+"], 2),
        ("dbt test upstream, reused (data tests only)", ["test", "--exclude", "source:ml+"], 2),
    ]:
        t0 = time.perf_counter()
        run_dbt(command, url, settings.model_copy(update={"dbt_threads": threads}), cycle_vars, quiet=True)
        out.append((what, time.perf_counter() - t0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=get_settings().data_path, help="the source file")
    parser.add_argument("--scale", type=int, default=1, help="copies of the source (generated, cached)")
    parser.add_argument("--years", action="store_true", help="copies shifted by whole years instead")
    parser.add_argument("--daily", action="store_true", help="cold cycle without the last day, then a day")
    parser.add_argument("--repeat", type=int, default=0, help="warm cycles after the cold one")
    parser.add_argument("--no-manifest-reuse", action="store_true", help="every dbt call parses (before)")
    parser.add_argument("--dbt-startup", action="store_true", help="also time imports and dbt options")
    parser.add_argument("--profile", type=Path, help="cProfile the cold cycle into this file")
    parser.add_argument("--copy-after-only", action="store_true", help="plain COPY after the cycles only")
    parser.add_argument(
        "--target", choices=["postgres", "spark"], default=get_settings().target,
        help="spark: also a cold Spark cycle after the Postgres ones (default: INSIDERS_TARGET)",
    )  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    dbt_calls = DbtCalls()
    dbt_log = logging.getLogger("insiders.dbt")
    dbt_log.setLevel(logging.INFO)
    dbt_log.addHandler(dbt_calls)
    dbt_log.propagate = False
    MANIFESTS.enabled = not args.no_manifest_reuse
    started, load_before = datetime.now(UTC), load_average()
    spark_failed, spark_steps = None, {}
    files = bench_data(args.data, args.scale, years=args.years, daily=args.daily)
    settings = bench_settings(get_settings().model_copy(update={"target": "postgres"}))
    shutil.rmtree(settings.dbt_target_path, ignore_errors=True)  # as in a fresh clone: no partial parse
    results: list = []
    capture_dbt_results(results)
    copy_before = (
        None if args.copy_after_only else plain_copy(settings, files[0])
    )  # before and after: a load spike of
    sampler = PeakSampler()  # the shared machine then shows as two different COPY times
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    rows, cold = one_cycle(settings, files[:1], "cold", sampler, dbt_calls)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    cold_results = list(results)
    outcomes = {"cold": cold}
    if args.daily:
        more, outcomes["daily"] = one_cycle(settings, files, "daily", sampler, dbt_calls)
        rows += more
    for i in range(args.repeat):
        more, outcomes[f"warm {i + 1}"] = one_cycle(settings, files, f"warm {i + 1}", sampler, dbt_calls)
        rows += more
    if args.target == "spark":  # after the Postgres cycles: one JVM, never beside a Postgres dbt run
        from insiders.warehouse.spark_cycle import run_cycle as run_on_spark

        spark_rows: list[tuple] = []
        try:
            one_cycle(
                spark_settings(settings), files[:1], "spark", sampler, dbt_calls, run_on_spark, spark_rows
            )
        except Exception as exc:  # the Postgres figures and the Spark steps done are still printed
            spark_failed = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
            print(f"the Spark cycle failed: {spark_failed}", flush=True)
        rows += spark_rows
        spark_steps = {step: seconds for label, step, seconds, peak in spark_rows if peak is not None}
    sampler.stop()
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the bench's own
    children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # gzip and psql runs
    db_bytes, schemas = database_size(settings)
    loaded = sum(r.rows_loaded + r.rows_rejected for r in cold.loads)
    copy_after = plain_copy(settings, files[0])
    copies = [c for c in (copy_before, copy_after) if c]
    copy = {k: sum(c[k] for c in copies) / len(copies) for k in ("seconds", "gunzip_seconds")}
    copy.update(rows=loaded, before=(copy_before or copy_after)["seconds"], after=copy_after["seconds"])

    memory_gb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    print(f"\nmachine: {os.cpu_count()} cores, {memory_gb:.0f} GB; load average {load_before} before, "
          f"{load_average()} after; data {', '.join(f.name for f in files)}; "
          f"manifest reuse {'off' if args.no_manifest_reuse else 'on'}")  # fmt: skip
    print(f"\n{'cycle':<8} {'step':<44} {'seconds':>8} {'peak RSS MB':>12}")  # with the Python children
    for label, step, seconds, peak in rows:
        print(f"{label:<8} {step:<44} {seconds:8.2f} {'' if peak is None else f'{peak:12.0f}'}")
    load_s = cold.step_seconds.get("load", float("nan"))
    copy_s = copy["seconds"]
    print(f"\nload (cold): {loaded:,} rows in {load_s:.1f}s = {loaded / load_s:,.0f} rows/s; "
          f"plain COPY of the same gzip: {copy_s:.1f}s = {loaded / copy_s:,.0f} rows/s "
          f"(mean of {copy['before']:.1f}s before the cycles and {copy['after']:.1f}s after) "
          f"(gzip -dc alone {copy['gunzip_seconds']:.1f}s); "
          f"loader / plain COPY = {load_s / copy_s:.2f}x")  # fmt: skip
    print(f"peak RSS (ru_maxrss): this process {self_peak:.0f} MB, its children {children_peak:.0f} MB")
    print(f"database size: {db_bytes / 2**30:.2f} GB (" + ", ".join(
        f"{name} {size / 2**20:,.0f} MB" for name, size in schemas[:6]) + ")")  # fmt: skip
    if args.target == "spark":
        failed = f"; the Spark cycle FAILED after these steps: {spark_failed}" if spark_failed else ""
        print(f"\ncold cycle, seconds per step, Postgres beside Spark (one run each: no error band){failed}")
        print("\n".join(side_by_side(cold.step_seconds, spark_steps, complete=not spark_failed)))
    print("\nprofile of the cold cycle's dbt calls:")
    print("\n".join(dbt_profile(cold_results)))
    if args.daily:  # the calls after the cold cycle's: the daily cycle's (its per-node timings)
        print("\nprofile of the daily cycle's dbt calls:")
        print("\n".join(dbt_profile(results[len(cold_results) : len(cold_results) + 2])))
    startup = startup_costs(settings) if args.dbt_startup else []
    if startup:
        print("\nstart-up costs (seconds):")
        for what, seconds in startup:
            print(f"  {what:<50} {seconds:6.2f}")
    if profiler:
        print(f"\ncProfile of the cold cycle in {args.profile} (top 25 by cumulative time):")
        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(25)
    RESULTS_DIR.mkdir(exist_ok=True)
    tag = f"x{args.scale}{'_years' if args.years else ''}{'_daily' if args.daily else ''}"
    tag += "_spark" if args.target == "spark" else ""
    out = RESULTS_DIR / f"bench_{tag}_{started:%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps({
        "started_at": started.isoformat(), "load_average": [load_before, load_average()],
        "files": [str(f) for f in files], "manifest_reuse": not args.no_manifest_reuse,
        "steps": {label: outcome.step_seconds for label, outcome in outcomes.items()},
        "spark_steps": spark_steps, "spark_failed": spark_failed,
        "dbt_calls": dbt_calls.calls, "rows_loaded": loaded, "plain_copy": copy,
        "peak_rss_mb": {"self": self_peak, "children": children_peak},
        "database_bytes": db_bytes, "startup": startup,
    }, indent=2, default=str))  # fmt: skip
    print(f"\nfigures written to {out}")


if __name__ == "__main__":
    main()
