"""The `insiders` command line: argument parsing, wiring and printing only; logic lives elsewhere."""

from __future__ import annotations

import functools
import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from insiders import db
from insiders.errors import UserError
from insiders.logs import setup_logging
from insiders.settings import Settings, get_settings

log = logging.getLogger("insiders")

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Insiders: find your best customers.")
db_app = typer.Typer(no_args_is_help=True, help="The database: embedded Postgres or INSIDERS_DATABASE_URL.")
app.add_typer(db_app, name="db")
bi_app = typer.Typer(no_args_is_help=True, help="The read-only role of BI tools (Metabase).")
app.add_typer(bi_app, name="bi")
metabase_app = typer.Typer(no_args_is_help=True, help="Metabase dashboards as code (metabase/*.yml).")
app.add_typer(metabase_app, name="metabase")


def handle_user_errors(func):
    """A UserError becomes one clear line on stderr and its exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


@app.callback()
def main(
    log_format: Annotated[str, typer.Option(help="text or json (JSON lines)")] = "text",
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING...")] = "INFO",
) -> None:
    if log_format not in {"text", "json"}:
        raise typer.BadParameter("--log-format must be text or json")
    setup_logging(log_format, log_level)


def _settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic validation of env vars
        raise UserError(f"invalid settings: {exc}") from None


# --------------------------------------------------------------------------------------------- db
@db_app.command("start")
@handle_user_errors
def db_start() -> None:
    """Start the embedded Postgres (no-op when INSIDERS_DATABASE_URL is set) and print its URL."""
    settings = _settings()
    url = db.ensure_database_ready(settings)
    typer.echo(db.libpq_url(url))


@db_app.command("stop")
@handle_user_errors
def db_stop() -> None:
    """Stop the embedded Postgres."""
    settings = _settings()
    if not settings.uses_embedded_db:
        typer.echo("INSIDERS_DATABASE_URL is set: nothing embedded to stop")
        return
    stopped = db.stop_embedded(settings.pgdata, db.find_pg_bin(settings))
    typer.echo("stopped" if stopped else "not running")


@db_app.command("status")
@handle_user_errors
def db_status() -> None:
    """Exit 0 when the embedded Postgres runs (or INSIDERS_DATABASE_URL is set), 1 when it does not."""
    settings = _settings()
    if not settings.uses_embedded_db:
        typer.echo("INSIDERS_DATABASE_URL is set")
        return
    if not db.embedded_is_running(settings.pgdata, db.find_pg_bin(settings)):
        typer.echo("not running")
        raise typer.Exit(1)
    typer.echo(f"running on port {db.running_port(settings.pgdata)}")


@db_app.command("url")
@handle_user_errors
def db_url(show_password: Annotated[bool, typer.Option(help="include the password")] = False) -> None:
    """Print the database URL (psql accepts it)."""
    typer.echo(db.libpq_url(db.database_url(_settings()), hide_password=not show_password))


@db_app.command("env")
@handle_user_errors
def db_env() -> None:
    """Print `export` lines for dbt and psql: eval "$(insiders db env)" then `dbt build`."""
    from insiders.dbt import shell_env

    settings = _settings()
    url = db.database_url(settings)
    env = shell_env(url, settings)
    env.update(PGHOST=env["INSIDERS_PGHOST"], PGPORT=env["INSIDERS_PGPORT"], PGUSER=env["INSIDERS_PGUSER"])
    env["PGDATABASE"] = env["INSIDERS_PGDATABASE"]
    for key, value in env.items():
        if value:
            typer.echo(f"export {key}={shlex.quote(value)}")


# -------------------------------------------------------------------------------------------- bi
@bi_app.command("grant")
@handle_user_errors
def bi_grant() -> None:
    """Create or update the read-only BI role (INSIDERS_BI_ROLE, default insiders_bi): marts only.

    Run once by a role with CREATEROLE (a DBA) when the job's role has none; every cycle's publish then
    keeps the grants in place.
    """
    from insiders.bi import grant_bi_access, manage_bi_role

    settings = _settings()
    url = db.ensure_database_ready(settings)
    password = settings.bi_password.get_secret_value() if settings.bi_password else None
    with db.raw_connection(url) as conn:
        managed = manage_bi_role(conn, settings.bi_role, password)
        if not grant_bi_access(conn, settings.bi_role):
            raise UserError(
                f"role {settings.bi_role} does not exist and this role may not create it: "
                "run `insiders bi grant` as a role with CREATEROLE"
            )
    typer.echo(f"role {settings.bi_role}: USAGE + SELECT on schema marts; no access to raw, ml, ops, staging")
    if not managed:
        typer.echo(f"warning: role {settings.bi_role} left as it is (no CREATEROLE): only grants", err=True)


# -------------------------------------------------------------------------------------- metabase
@metabase_app.command("push")
@handle_user_errors
def metabase_push(
    folder: Annotated[Path | None, typer.Option(help="dashboard specs; default: metabase/")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="read only: say what would change")] = False,
    with_descriptions: Annotated[
        bool, typer.Option(help="also push dbt model/column descriptions (target/manifest.json)")
    ] = True,
) -> None:
    """Create or update the Metabase collection, cards and dashboards (idempotent).

    Reads INSIDERS_METABASE_URL and INSIDERS_METABASE_API_KEY (or _USERNAME/_PASSWORD).
    """
    from insiders.metabase import push

    manifest = _settings().dbt_target_path / "manifest.json" if with_descriptions else None
    if manifest is not None and not manifest.exists():
        raise UserError(f"{manifest} not found: run `insiders run` or `insiders dbt docs generate` first")
    report = push(folder=folder, manifest=manifest, dry_run=dry_run)
    for line in report.lines():
        typer.echo(line)


# ------------------------------------------------------------------------------------------- load
LAYOUT_HELP = "export layout: a name of layouts/ (online_retail, online_retail_ii) or a YAML path"


def _with_layout(settings: Settings, layout: str | None) -> Settings:
    """--layout wins over INSIDERS_LAYOUT; the layout file is validated here (one line, exit 2)."""
    from insiders.layouts import load_layout

    if layout is not None:
        settings = settings.model_copy(update={"layout": layout})
    load_layout(settings.layout)
    return settings


def print_load_results(results) -> None:
    for r in results:
        if r.status == "loaded":
            typer.echo(
                f"{r.source_uri}: {r.rows_in_file} rows in file, {r.rows_loaded} loaded, "
                f"{r.rows_rejected} rejected ({r.seconds:.1f}s)"
            )
        else:
            typer.echo(f"{r.source_uri}: {r.status}: {r.message}")


@app.command()
@handle_user_errors
def load(
    paths: Annotated[list[str], typer.Argument(help="files or folders (.csv, .csv.gz)")],
    layout: Annotated[str | None, typer.Option(help=LAYOUT_HELP)] = None,
) -> None:
    """Load shop CSV exports into the raw schema (files already loaded are skipped)."""
    from insiders.ingest import load_sources
    from insiders.layouts import load_layout

    settings = _with_layout(_settings(), layout)
    if load_layout(settings.layout).is_relation:
        raise UserError(f"layout {settings.layout} names a warehouse relation: there is no file to load")
    if settings.target == "spark":  # the Spark raw tables (insiders.warehouse.spark_load)
        from insiders.warehouse import spark_cycle

        results = spark_cycle.load_sources(spark_cycle.open_spark_warehouse(settings), paths, settings)
    else:
        results = load_sources(db.ensure_database_ready(settings), paths, settings)
    print_load_results(results)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(5)


# ------------------------------------------------------------------------------------------- dbt
@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@handle_user_errors
def dbt(ctx: typer.Context) -> None:
    """Run any dbt command against the project's database, e.g. `insiders dbt build -s marts`."""
    from insiders.dbt import run_dbt

    settings = _settings()
    url = db.ensure_database_ready(settings) if settings.target == "postgres" else None  # Spark: no Postgres
    if not ctx.args:
        raise UserError("give a dbt command, e.g. `insiders dbt build`")
    run_dbt(list(ctx.args), url, settings)


# ------------------------------------------------------------------------------------------- run
@app.command()
@handle_user_errors
def run(
    paths: Annotated[list[str] | None, typer.Argument(help="files, folders or s3:// prefixes")] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="a file, folder or s3://bucket/prefix/ (repeatable)")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait for a running cycle instead of exiting")] = False,
    seed: Annotated[int, typer.Option(help="random seed of the segmentation")] = 42,
    layout: Annotated[str | None, typer.Option(help=LAYOUT_HELP)] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="rebuild the incremental models from all loaded lines")
    ] = False,
) -> None:
    """The whole cycle: load new files, dbt build, segment, build the marts, publish them atomically.

    Default source: INSIDERS_SOURCE, else the shared Online Retail file. Exit codes: 0 done,
    2 usage/setting/input error, 3 another cycle is running, 4 a step failed (marts unchanged),
    5 published but some files were refused.
    """
    from insiders.cycle import CyclePlan
    from insiders.layouts import load_layout

    settings = _with_layout(_settings(), layout)
    sources = [*(paths or []), *(source or [])] or settings.default_sources
    if load_layout(settings.layout).is_relation:  # the lines are in the warehouse: no file at all
        if paths or source:
            raise UserError(f"layout {settings.layout} names a warehouse relation: give no files")
        sources = []
    outcome = _cycle(settings, CyclePlan.for_run(settings, sources, seed, full_refresh), wait)
    print_load_results(outcome.loads)
    total = sum(outcome.step_seconds.values())
    typer.echo(f"\ncycle {outcome.job_run_id} done in {total:.1f}s\n")
    _print_summary(outcome)
    if outcome.exit_code:
        typer.echo(f"\nwarning: {outcome.files_failed} file(s) refused; see raw.files", err=True)
        raise typer.Exit(outcome.exit_code)


def _cycle(settings: Settings, plan, wait: bool):
    if settings.target == "spark":
        from insiders.warehouse.spark_cycle import run_cycle
    else:
        from insiders.cycle import run_cycle

    def progress(step: str, seconds: float) -> None:
        typer.echo(f"✓ {step:<22} {seconds:6.1f}s")

    return run_cycle(settings, plan=plan, wait_for_lock=wait, on_step=progress)


def _print_summary(outcome) -> None:
    from insiders.cycle import format_summary

    typer.echo(format_summary(outcome.summary_rows))
    if outcome.report_path:
        typer.echo(f"\nreport: {outcome.report_path}")


@app.command()
@handle_user_errors
def segment(
    seed: Annotated[int, typer.Option(help="random seed")] = 42,
    wait: Annotated[bool, typer.Option("--wait", help="wait for a running cycle instead of exiting")] = False,
) -> None:
    """Segment the current data again and forecast, then publish the marts (a cycle without loading).

    Same lock, build-then-publish and exit codes as `insiders run`.
    """
    from insiders.cycle import CyclePlan

    settings = _settings()
    outcome = _cycle(settings, CyclePlan.for_segment(settings, seed), wait)
    typer.echo(outcome.segmentation.summary_text())
    _print_summary(outcome)


@app.command()
@handle_user_errors
def backtest(
    cutoff: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD; default: the features' reference date - horizon")
    ] = None,
    horizon_days: Annotated[int, typer.Option(help="days after the cutoff to look at")] = 91,
    seed: Annotated[int, typer.Option(help="random seed")] = 42,
    wait: Annotated[bool, typer.Option("--wait", help="wait for a running cycle instead of exiting")] = False,
) -> None:
    """Proof that the Insiders are better: segment as of a cutoff, measure the next N days' revenue.

    Compares the Insiders with equal-size groups taken by past gross revenue, by RFM score and the
    oracle; checks the revenue forecast against what happened; publishes marts.backtest_results
    (a cycle without loading or a new segmentation: same lock, build-then-publish).
    """
    from datetime import date

    from insiders.cycle import CyclePlan

    try:
        cut = date.fromisoformat(cutoff) if cutoff else None
    except ValueError:
        raise UserError(f"--cutoff must be YYYY-MM-DD, not {cutoff!r}") from None
    settings = _settings()
    outcome = _cycle(settings, CyclePlan.for_backtest(cut, horizon_days, seed), wait)
    typer.echo(outcome.backtest.summary_text())


@app.command()
@handle_user_errors
def report(
    out: Annotated[
        Path | None, typer.Option("--out", help="folder; default: INSIDERS_REPORT_DIR (reports/)")
    ] = None,
) -> None:
    """Write the HTML report of the current segmentation run (one self-contained file)."""
    from insiders.report import write_report

    settings = _settings()
    url = db.ensure_database_ready(settings)
    with db.raw_connection(url) as conn:
        path = write_report(conn, out or settings.report_dir)
    typer.echo(str(path))


@app.command()
@handle_user_errors
def status(limit: Annotated[int, typer.Option(help="how many cycles")] = 10) -> None:
    """Show the last cycles (ops.job_runs): status, timings, files and rows, errors."""
    from insiders import ops

    settings = _settings()
    url = db.ensure_database_ready(settings)
    with db.raw_connection(url) as conn:
        ops.ensure_ops_schema(conn)
        runs = ops.recent_job_runs(conn, limit)
    if not runs:
        typer.echo("no cycle has run yet")
    for r in runs:
        took = f"{(r['finished_at'] - r['started_at']).total_seconds():.1f}s" if r["finished_at"] else "-"
        typer.echo(
            f"#{r['job_run_id']} {r['started_at']:%Y-%m-%d %H:%M:%S} {r.get('command', 'run'):<8} "
            f"{r['status']:<9} exit={r['exit_code']} "
            f"took={took} files loaded/skipped/failed={r['files_loaded']}/{r['files_skipped']}/"
            f"{r['files_failed']} rows loaded/rejected={r['rows_loaded']}/{r['rows_rejected']}"
            + (f" segmentation={r['segmentation_run_id']}" if r["segmentation_run_id"] else "")
        )
        if r["error"]:
            typer.echo(f"    error: {r['error']}")


def entrypoint() -> None:  # pragma: no cover - used by `python -m insiders`
    app(prog_name="insiders")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entrypoint())
