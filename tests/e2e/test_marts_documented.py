"""Every column of every mart the full cycle published has a description in the mart's yml (the
columns are read from the database, so a column someone adds to a model fails here until it is
documented)."""

from __future__ import annotations

import re

from tests.test_docs import mart_docs

DOC_REF = re.compile(r"\{\{\s*doc\('[a-z_]+'\)\s*\}\}")


def test_every_column_of_every_mart_is_described(full_cycle):
    docs = mart_docs()
    rows = full_cycle.query(
        "select table_name, column_name from information_schema.columns "
        "where table_schema = 'marts' order by table_name, ordinal_position"
    )
    assert rows
    missing = []
    for table, column in rows:
        described = {c["name"]: c.get("description") for c in docs.get(table, {}).get("columns", [])}
        if not (described.get(column) or "").strip():
            missing.append(f"{table}.{column}")
    assert not missing, "columns without a description: " + ", ".join(missing)


def test_doc_references_point_at_doc_blocks():
    from pathlib import Path

    blocks = set(
        re.findall(r"\{% docs ([a-z_]+) %\}", (Path("models/marts/_feature_columns.md")).read_text())
    )
    for model in mart_docs().values():
        for column in model.get("columns", []):
            for ref in DOC_REF.findall(column.get("description") or ""):
                assert re.search(r"'([a-z_]+)'", ref).group(1) in blocks
