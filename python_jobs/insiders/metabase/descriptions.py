"""dbt docs → Metabase metadata: the marts' model and column descriptions become table and field
descriptions, so people reading a table in Metabase see what dbt says of it (dbt-metabase, the small way).

Reads dbt's ``target/manifest.json``; takes the models configured into the marts schema (their
``+schema`` is ``marts``, whatever schema the cycle built them in); matches Metabase tables by schema
and name (``GET /api/database/:id/metadata``) and PUTs ``/api/table/:id`` or ``/api/field/:id`` only
where the description differs. An empty dbt description never blanks a Metabase one. A model Metabase
does not know yet (not synced) is reported, not an error.
"""

from __future__ import annotations

import json
import logging
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


def push_descriptions(
    client: MetabaseClient,
    docs: list[ModelDoc],
    *,
    database_id: int,
    schema: str = "marts",
    report: PushReport | None = None,
) -> PushReport:
    """PUT the descriptions that differ; ``report.dry_run`` writes nothing. Returns the report."""
    report = report if report is not None else PushReport()
    metadata = client.get(f"database/{database_id}/metadata")
    tables = {
        (t.get("name") or "").lower(): t
        for t in metadata.get("tables", [])
        if (t.get("schema") or "").lower() == schema.lower()
    }
    for doc in docs:
        table = tables.get(doc.name.lower())
        if table is None:
            report.missing_tables.append(f"{schema}.{doc.name}")
            log.warning(
                "metabase: %s.%s is not in Metabase's metadata yet (sync the database)", schema, doc.name
            )
            continue
        _set_description(client, report, "table", f"{schema}.{doc.name}", table, doc.description)
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
