"""dbt docs → Metabase metadata: the marts' model and column descriptions become table and field
descriptions, so people reading a table in Metabase see what dbt says of it (dbt-metabase, the small way).

Reads dbt's ``target/manifest.json``; takes the models configured into the marts schema (their
``+schema`` is ``marts``, whatever schema the cycle built them in); matches Metabase tables by schema
and name (``GET /api/database/:id/metadata?include_hidden=true``: without it Metabase leaves out hidden
tables and sensitive fields, which would then never be described) and PUTs ``/api/table/:id`` or
``/api/field/:id`` only where the description differs, with the description alone (visibility, display
names and semantic types set in Metabase stay as they are). An empty dbt description never blanks a
Metabase one.

A model or documented column Metabase does not know yet (a new mart or column, not synced): the push
asks Metabase to sync the schema
(``POST /api/database/:id/sync_schema``, which answers at once and syncs in the background), reads the
metadata again until they appear or ``sync_timeout`` seconds have passed, describes what
appeared, and reports the rest (not an error). A dry run asks for no sync.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from insiders.errors import UserError
from insiders.metabase.client import MetabaseClient
from insiders.metabase.report import PushReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelDoc:
    name: str  # the relation's name (dbt alias)
    description: str
    columns: dict[str, str] = field(default_factory=dict)  # lower-cased column name → description


def load_model_docs(manifest: Path, *, schema: str = "marts") -> list[ModelDoc]:
    """The documented models of ``schema`` in a dbt manifest, by relation name."""
    try:
        nodes = json.loads(Path(manifest).read_text(encoding="utf-8"))["nodes"]
    except FileNotFoundError:
        raise UserError(f"no dbt manifest at {manifest}: run dbt (e.g. `insiders run`) first") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{manifest}: not a readable dbt manifest ({type(exc).__name__}: {exc})") from None
    docs = []
    for node in nodes.values():
        if node.get("resource_type") != "model":
            continue
        if schema not in {(node.get("config") or {}).get("schema"), node.get("schema")}:
            continue
        columns = {
            name.lower(): (column.get("description") or "").strip()
            for name, column in (node.get("columns") or {}).items()
        }
        docs.append(
            ModelDoc(
                name=node.get("alias") or node["name"],
                description=(node.get("description") or "").strip(),
                columns=columns,
            )
        )
    return sorted(docs, key=lambda d: d.name)


def _tables(client: MetabaseClient, database_id: int, schema: str) -> dict[str, dict]:
    """Metabase's tables of ``schema`` by lower-cased name, hidden ones and sensitive fields included."""
    metadata = client.get(f"database/{database_id}/metadata", params={"include_hidden": "true"})
    return {
        (t.get("name") or "").lower(): t
        for t in (metadata or {}).get("tables") or []
        if (t.get("schema") or "").lower() == schema.lower()
    }


def _unknown(docs: list[ModelDoc], tables: dict[str, dict]) -> set[str]:
    """What dbt documents that Metabase does not know yet: ``table`` or ``table.column`` (lower case)."""
    unknown = set()
    for doc in docs:
        table = tables.get(doc.name.lower())
        if table is None:
            unknown.add(doc.name.lower())
            continue
        fields = {(f.get("name") or "").lower() for f in table.get("fields") or []}
        unknown |= {f"{doc.name.lower()}.{c}" for c, text in doc.columns.items() if text and c not in fields}
    return unknown


def _sync_and_wait(
    client: MetabaseClient,
    database_id: int,
    schema: str,
    docs: list[ModelDoc],
    *,
    timeout: float,
    poll_seconds: float,
    report: PushReport,
) -> dict[str, dict]:
    """Ask Metabase to sync the schema, then re-read the metadata until it knows every documented table
    and column or ``timeout`` passes. Returns the last tables read. A refused sync (a non-admin key) is
    a warning."""
    try:
        client.post(f"database/{database_id}/sync_schema", None)
    except UserError as exc:
        report.warnings.append(f"could not ask Metabase to sync the schema: {exc}")
        return _tables(client, database_id, schema)
    report.sync_requested = True
    log.info("metabase: asked for a schema sync (new tables or columns)")
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        tables = _tables(client, database_id, schema)
        if not _unknown(docs, tables) or time.monotonic() >= deadline:
            return tables
        time.sleep(min(poll_seconds, max(deadline - time.monotonic(), 0.0)))


def push_descriptions(
    client: MetabaseClient,
    docs: list[ModelDoc],
    *,
    database_id: int,
    schema: str = "marts",
    report: PushReport | None = None,
    sync_timeout: float = 30.0,
    poll_seconds: float = 2.0,
) -> PushReport:
    """PUT the descriptions that differ; ``report.dry_run`` writes nothing (and asks for no sync).
    Returns the report."""
    report = report if report is not None else PushReport()
    tables = _tables(client, database_id, schema)
    if _unknown(docs, tables) and not report.dry_run:
        tables = _sync_and_wait(
            client,
            database_id,
            schema,
            docs,
            timeout=sync_timeout,
            poll_seconds=poll_seconds,
            report=report,
        )
    for doc in docs:
        table = tables.get(doc.name.lower())
        if table is None:
            report.missing_tables.append(f"{schema}.{doc.name}")
            log.warning("metabase: %s.%s is not in Metabase's metadata yet", schema, doc.name)
            continue
        _set_description(client, report, "table", f"{schema}.{doc.name}", table, doc.description)
        known = {(f.get("name") or "").lower() for f in table.get("fields") or []}
        report.missing_columns += [
            f"{schema}.{doc.name}.{c}" for c, text in doc.columns.items() if text and c not in known
        ]
        for metabase_field in table.get("fields") or []:
            description = doc.columns.get((metabase_field.get("name") or "").lower(), "")
            name = f"{schema}.{doc.name}.{metabase_field.get('name')}"
            _set_description(client, report, "field", name, metabase_field, description)
    return report


def _set_description(
    client: MetabaseClient, report: PushReport, kind: str, name: str, current: dict, description: str
) -> None:
    if not description:
        return
    if (current.get("description") or "").strip() == description:
        report.add(kind, name, "unchanged", current["id"])
        return
    if not report.dry_run:
        client.put(f"{kind}/{current['id']}", {"description": description})
        log.info("metabase: described %s %s", kind, name)
    report.add(kind, name, "updated", current["id"])
