"""The one place that invokes dbt (in-process dbtRunner), with the database env and vars set."""

from __future__ import annotations

import json
import logging
import os
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


def run_dbt(
    command: list[str],
    url: URL,
    settings: Settings,
    dbt_vars: Mapping[str, object] | None = None,
    *,
    quiet: bool = False,
) -> object:
    """Run one dbt command (e.g. ``["build", "--select", "staging+"]``); StepFailedError if it fails.

    ``quiet``: only warnings and errors on the console (the full log is in <home>/logs/dbt.log).
    """
    from dbt.cli.main import dbtRunner  # heavy import, only when dbt is really used

    args = [
        *(["--log-level", "warn"] if quiet else []),
        *command,
        "--project-dir", str(settings.project_dir),
        "--profiles-dir", str(profiles_dir(settings)),
        "--target", settings.dbt_target,
        "--log-path", str(settings.home / "logs"),
        "--target-path", str(settings.dbt_target_path),
    ]  # fmt: skip
    if dbt_vars:
        args += ["--vars", json.dumps(dict(dbt_vars), default=str)]
    env = {**dbt_env(url), "INSIDERS_DBT_THREADS": str(settings.dbt_threads)}
    with _environ(env):
        result = dbtRunner().invoke(args)
    if not result.success:
        detail = f": {result.exception}" if result.exception else ""
        failed = _failed_nodes(result.result)
        if failed:
            detail += " (failed: " + ", ".join(failed[:10]) + (" …" if len(failed) > 10 else "") + ")"
        raise StepFailedError(f"dbt {command[0]} failed{detail}")
    return result.result


def _failed_nodes(results) -> list[str]:
    names = []
    for res in getattr(results, "results", None) or []:
        status = str(getattr(res, "status", "")).lower()
        if status in {"error", "fail", "runtimeerror"}:
            node = getattr(res, "node", None)
            names.append(getattr(node, "name", "?"))
    return names
