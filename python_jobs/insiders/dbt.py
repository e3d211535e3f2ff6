"""The one place that invokes dbt (in-process dbtRunner), with the database env and vars set.

One parse per cycle: the commands that run nodes (``build``, ``run``, ``test``, ...) reuse the
manifest parsed by an earlier call of the same process (``dbtRunner(manifest=...)``) when nothing the
parse depends on changed: project files, profile, target, the INSIDERS_*/DBT_* environment and the
vars that shape the manifest. Vars read only while SQL is compiled (``RUNTIME_VARS``, proven by
tests/test_dbt_runner.py) do not count: a manifest parsed with one value compiles the SQL with the
value of the current call. A parse costs seconds; the cycle's dbt calls otherwise parsed the whole
project each time (their vars differ, and a change of vars defeats dbt's partial parsing).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL

from insiders.db import dbt_env
from insiders.errors import StepFailedError
from insiders.settings import Settings

log = logging.getLogger(__name__)


def profiles_dir(settings: Settings) -> Path:
    """DBT_PROFILES_DIR when the user set one, else a copy of profiles.yml.example under .insiders/."""
    if os.environ.get("DBT_PROFILES_DIR"):
        return Path(os.environ["DBT_PROFILES_DIR"])
    target = settings.home / "profiles"
    target.mkdir(parents=True, exist_ok=True)
    example = (settings.project_dir / "profiles.yml.example").read_text()
    profile = target / "profiles.yml"
    if not profile.exists() or profile.read_text() != example:
        profile.write_text(example)
    return target


def shell_env(url: URL, settings: Settings) -> dict[str, str]:
    """What `insiders db env` exports so that `dbt build` typed by hand reaches the same database."""
    return {**dbt_env(url), "DBT_PROFILES_DIR": str(profiles_dir(settings))}


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


# Vars the project reads only in SQL bodies and macros called while compiling (never in config(),
# ref()/source() calls, generate_schema_name or yml): a new value needs no new parse. Not among them:
# marts_schema (names the marts' schema at parse time); shop_relation (points a source at a relation);
# as_of_date and backtest_cutoff (kept in the key: date_var renders them into int_reference_dates).
RUNTIME_VARS = frozenset({"segmentation_run_id", "backtest_horizon_days", "insiders_programme_start"})
# Commands that take a parsed manifest (dbtRunner(manifest=...)); the others parse as they always did.
REUSES_MANIFEST = frozenset({"build", "run", "test", "seed", "compile"})
_PROJECT_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".md")
_PROJECT_DIRS = frozenset({"models", "macros", "seeds", "tests", "analyses", "snapshots"})
_PROJECT_FILES = frozenset({"dbt_project.yml", "packages.yml", "dependencies.yml", "selectors.yml"})


class ManifestCache:
    """Manifests parsed in this process, by parse key; the few most recent kept (a manifest of this
    project is a few MB). ``enabled = False``: every call parses by itself, as before (the benchmark's
    'before' figures)."""

    def __init__(self, size: int = 4) -> None:
        self.size, self.enabled = size, True
        self._manifests: OrderedDict[str, object] = OrderedDict()

    def get(self, key: str):
        manifest = self._manifests.get(key)
        if manifest is not None:
            self._manifests.move_to_end(key)
        return manifest

    def put(self, key: str, manifest: object) -> None:
        self._manifests[key] = manifest
        while len(self._manifests) > self.size:
            self._manifests.popitem(last=False)

    def clear(self) -> None:
        self._manifests.clear()


MANIFESTS = ManifestCache()


def dbt_target(settings: Settings) -> str:
    """The profile's output: INSIDERS_DBT_TARGET when set to another than the default, else the
    engine's (INSIDERS_TARGET=spark → the `spark` output of profiles.yml.example)."""
    if settings.dbt_target == "dev" and settings.target == "spark":
        return "spark"
    return settings.dbt_target


def spark_env(settings: Settings) -> dict[str, str]:
    """What the `spark` output reads: its warehouse and metastore under the settings' home."""
    if dbt_target(settings) != "spark":
        return {}
    return {
        "INSIDERS_HOME": str(settings.home),
        "INSIDERS_SPARK_MASTER": settings.spark_master,
        "INSIDERS_SPARK_DRIVER_MEMORY": settings.spark_driver_memory,
    }


def _common_args(settings: Settings, dbt_vars: Mapping[str, object] | None) -> list[str]:
    common = [
        "--project-dir", str(settings.project_dir),
        "--profiles-dir", str(profiles_dir(settings)),
        "--target", dbt_target(settings),
        "--log-path", str(settings.home / "logs"),
        "--target-path", str(settings.dbt_target_path),
    ]  # fmt: skip
    if dbt_vars:
        common += ["--vars", json.dumps(dict(dbt_vars), default=str)]
    return common


def _dbt_env(url: URL | None, settings: Settings) -> dict[str, str]:
    pg_env = dbt_env(url) if url is not None else {}  # Spark: no Postgres to point at
    return {**pg_env, **spark_env(settings), "INSIDERS_DBT_THREADS": str(settings.dbt_threads)}


def run_dbt(
    command: list[str],
    url: URL | None,
    settings: Settings,
    dbt_vars: Mapping[str, object] | None = None,
    *,
    quiet: bool = False,
) -> object:
    """Run one dbt command (e.g. ``["build", "--select", "staging+"]``); StepFailedError if it fails.

    ``quiet``: only warnings and errors on the console (the full log is in <home>/logs/dbt.log).
    Node-running commands reuse this process's manifest when the parse key matches (module doc).
    """
    from dbt.cli.main import dbtRunner  # heavy import, only when dbt is really used

    common = _common_args(settings, dbt_vars)
    log_level = ["--log-level", "warn"] if quiet else []
    env = _dbt_env(url, settings)
    if dbt_target(settings) == "spark":  # the job may have rewritten tables dbt's session has cached
        from insiders.warehouse.spark_session import forget_cached_tables_of_active_session

        forget_cached_tables_of_active_session()
    t0 = time.perf_counter()
    with _environ(env):
        manifest, parse_seconds = None, 0.0
        if command and command[0] in REUSES_MANIFEST and MANIFESTS.enabled:
            key = parse_key(settings, _dbt_environ(), dbt_vars)
            manifest = MANIFESTS.get(key)
            if manifest is None:
                manifest = _invoke(dbtRunner(), [*log_level, "parse", *common], "parse")
                MANIFESTS.put(key, manifest)
                parse_seconds = time.perf_counter() - t0
        result = _invoke(dbtRunner(manifest=manifest), [*log_level, *command, *common], command[0])
    seconds = time.perf_counter() - t0
    how = (
        "its own parse" if manifest is None else f"parse {parse_seconds:.1f}s" if parse_seconds else "reused"
    )
    log.info(
        "dbt %s: %.1fs (manifest: %s)", command[0], seconds, how,
        extra={"dbt_command": " ".join(command), "seconds": round(seconds, 3), "manifest": how},
    )  # fmt: skip
    return result


def _invoke(runner, args: list[str], what: str):
    result = runner.invoke(args)
    if not result.success:
        detail = f": {result.exception}" if result.exception else ""
        failed = _failed_nodes(result.result)
        if failed:
            detail += " (failed: " + ", ".join(failed[:10]) + (" …" if len(failed) > 10 else "") + ")"
        raise StepFailedError(f"dbt {what} failed{detail}")
    return result.result


def _dbt_environ() -> dict[str, str]:
    """The environment a parse may read: the profile's and the project's ``env_var()`` calls use
    INSIDERS_* names (e.g. INSIDERS_CONTROL_SHARE_PCT), dbt's own settings DBT_* names."""
    return {k: v for k, v in os.environ.items() if k.startswith(("INSIDERS_", "DBT_"))}


def parse_key(settings: Settings, env: Mapping[str, str], dbt_vars: Mapping[str, object] | None) -> str:
    """What a parsed manifest depends on, hashed (the env holds the password: never kept in clear)."""
    parse_vars = {k: v for k, v in (dbt_vars or {}).items() if k not in RUNTIME_VARS}
    parts = [
        str(settings.project_dir), str(profiles_dir(settings)), dbt_target(settings),
        str(settings.dbt_target_path), sorted(env.items()), sorted(parse_vars.items()),
        project_fingerprint(settings.project_dir),
    ]  # fmt: skip
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def project_fingerprint(project_dir: Path) -> list:
    """(path, size, mtime) of the files dbt reads: an edited model means a new parse (a few ms)."""
    found = []
    for root, dirs, files in os.walk(project_dir):
        top = Path(root).relative_to(project_dir).parts[:1]
        if not top:  # the project folder itself: only dbt's own files (not README.md and the like)
            names = [n for n in files if n in _PROJECT_FILES]
            dirs[:] = sorted(d for d in dirs if d in _PROJECT_DIRS)
        else:
            names = [n for n in files if n.endswith(_PROJECT_SUFFIXES)]
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for name in sorted(names):
            stat = os.stat(os.path.join(root, name))
            found.append((os.path.join(root, name), stat.st_size, stat.st_mtime_ns))
    return found


def _failed_nodes(results) -> list[str]:
    names = []
    for res in getattr(results, "results", None) or []:
        status = str(getattr(res, "status", "")).lower()
        if status in {"error", "fail", "runtimeerror"}:
            node = getattr(res, "node", None)
            names.append(getattr(node, "name", "?"))
    return names
