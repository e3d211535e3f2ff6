"""Dashboards as code: the YAML specs under ``metabase/`` and their validation.

One file per dashboard::

    name: Insiders
    description: Who they are, what they are worth, what to do.
    collection: Insiders
    exposure: insiders_dashboard    # its dbt exposure (models/exposures.yml), optional
    cards:
      - name: Insiders, one row each
        description: ...
        display: table            # table, bar, row, line, area, pie or scalar
        layout: {row: 0, col: 0, size_x: 12, size_y: 8}   # Metabase's grid is 24 columns wide
        visualization_settings: {}                        # optional, passed to Metabase as is
        sql: |
          select customer_id, gross_revenue from marts.insiders

Card SQL is a single ``select`` (or ``with ... select``) without ``;`` that reads only relations of the
``marts`` schema, the one the read-only BI role can see: a ``from``/``join`` target must be ``marts.<name>``
or a CTE of the same query. The check is a regex over the text (comments and string literals removed),
not a SQL parser: it catches a card pointing at ``raw``/``staging``/``ml``..., not every trick.
``marts_relations`` uses the same regex to list the marts a card reads (kept equal to the exposure's
``depends_on`` by a test).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from insiders.errors import UserError

ALLOWED_SCHEMA = "marts"
# Schemas of this warehouse (and Postgres') a card must never read; also refused as `name.` anywhere.
REFUSED_SCHEMAS = (
    "raw",
    "ml",
    "ops",
    "staging",
    "intermediate",
    "seeds",
    "public",
    "marts__build",
    "marts__previous",
    "information_schema",
    "pg_catalog",
)
GRID_WIDTH = 24

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]
Display = Literal["table", "bar", "row", "line", "area", "pie", "scalar"]


class Layout(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    row: int = Field(ge=0)
    col: int = Field(ge=0, lt=GRID_WIDTH)
    size_x: int = Field(ge=1, le=GRID_WIDTH)
    size_y: int = Field(ge=1)

    @model_validator(mode="after")
    def _fits_the_grid(self) -> Layout:
        if self.col + self.size_x > GRID_WIDTH:
            raise ValueError(f"col + size_x = {self.col + self.size_x} exceeds the {GRID_WIDTH}-column grid")
        return self

    def overlaps(self, other: Layout) -> bool:
        return (
            self.col < other.col + other.size_x
            and other.col < self.col + self.size_x
            and self.row < other.row + other.size_y
            and other.row < self.row + self.size_y
        )


class CardSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    description: str = ""
    display: Display
    sql: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    layout: Layout
    visualization_settings: dict[str, Any] = Field(default_factory=dict)


class DashboardSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    description: str = ""
    collection: Name
    exposure: Name | None = None  # the dbt exposure documenting this dashboard (models/exposures.yml)
    cards: list[CardSpec] = Field(min_length=1)
    source: Path | None = Field(default=None, exclude=True)  # the YAML file it came from

    @property
    def label(self) -> str:
        return self.source.name if self.source else self.name

    def marts_relations(self) -> set[str]:
        """The ``marts`` relations the dashboard's cards read."""
        return {name for card in self.cards for name in marts_relations(card.sql)}


# ------------------------------------------------------------------------------------------- SQL
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_STRINGS = re.compile(r"(?:[Ee])?'(?:[^']|'')*'|\$\$.*?\$\$", re.S)
# `from` that does not introduce a relation: extract(day from x), substring(s from 2), a is distinct from b
_FUNCTION_FROM = re.compile(r"\b(extract|substring|trim|overlay)(\s*\([^()]*?)\bfrom\b", re.I)
_DISTINCT_FROM = re.compile(r"\bdistinct\s+from\b", re.I)
_IDENT = r'(?:"[^"]+"|[A-Za-z_][\w$]*)'
_RELATION = re.compile(
    rf"\b(?:from|join)\s+({_IDENT})(?:\s*\.\s*({_IDENT}))?(?:\s*\.\s*({_IDENT}))?(\s*\()?", re.I
)
_CTE = re.compile(rf"({_IDENT})\s+as\s+(?:not\s+)?(?:materialized\s+)?\(", re.I)
_REFUSED_PREFIX = re.compile(rf'(?<![\w$."])"?({"|".join(REFUSED_SCHEMAS)})"?\s*\.\s*{_IDENT}', re.I)


def _unquote(identifier: str) -> str:
    return identifier[1:-1] if identifier.startswith('"') else identifier.lower()


def _relations(text: str) -> list[tuple[str, ...]]:
    """The ``from``/``join`` targets of a cleaned query, as lower-cased name parts (functions skipped)."""
    relations = []
    for match in _RELATION.finditer(text):
        first, second, third, call = match.groups()
        if not call:  # a call is a set-returning function: unnest(...), generate_series(...)
            relations.append(tuple(_unquote(p) for p in (first, second, third) if p))
    return relations


def _clean(sql: str) -> str:
    """The SQL without comments and string literals, and without the ``from`` of functions."""
    text = _STRINGS.sub("''", _COMMENTS.sub(" ", sql))
    return _DISTINCT_FROM.sub("distinct ", _FUNCTION_FROM.sub(r"\1\2 ", text))


def marts_relations(sql: str) -> set[str]:
    """The names of the ``marts`` relations a card's SQL reads, e.g. ``{"insiders", "segment_summary"}``."""
    return {parts[-1] for parts in _relations(_clean(sql)) if parts[-2:-1] == (ALLOWED_SCHEMA,)}


def sql_problems(sql: str) -> list[str]:
    """What is wrong with a card's SQL (empty when it is fine)."""
    text = _STRINGS.sub("''", _COMMENTS.sub(" ", sql))
    problems: list[str] = []
    if ";" in text:
        problems.append("contains ';' (one statement per card, no trailing ';')")
    if not re.match(r"\s*\(?\s*(select|with)\b", text, re.I):
        problems.append("is not a select (or with ... select) query")
    text = _clean(sql)
    ctes = {_unquote(name) for name in _CTE.findall(text)}
    refused: list[str] = []
    for parts in _relations(text):
        if len(parts) == 1:
            if parts[0] not in ctes:
                problems.append(f"reads {parts[0]} without a schema (write {ALLOWED_SCHEMA}.{parts[0]})")
            continue
        schema, relation = parts[-2], parts[-1]
        if schema != ALLOWED_SCHEMA:
            refused.append(f"{schema}.{relation}")
    for match in _REFUSED_PREFIX.finditer(text):
        name = re.sub(r'\s|"', "", match.group(0)).lower()
        if name not in refused:
            refused.append(name)
    problems.extend(
        f"reads {name}: cards may read only {ALLOWED_SCHEMA}.* relations" for name in dict.fromkeys(refused)
    )
    return problems


def dashboard_problems(spec: DashboardSpec) -> list[str]:
    """Unique card names, SQL on marts only, no overlapping cards."""
    problems: list[str] = []
    seen: set[str] = set()
    for card in spec.cards:
        if card.name.lower() in seen:
            problems.append(f"two cards are named {card.name!r}")
        seen.add(card.name.lower())
        problems.extend(f"card {card.name!r}: SQL {p}" for p in sql_problems(card.sql))
    for i, card in enumerate(spec.cards):
        for other in spec.cards[i + 1 :]:
            if card.layout.overlaps(other.layout):
                problems.append(f"cards {card.name!r} and {other.name!r} overlap on the grid")
    return problems


# ---------------------------------------------------------------------------------------- loading
def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _validation_message(exc: ValidationError, data: Any) -> str:
    parts = []
    for error in exc.errors()[:3]:
        loc = list(error["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        if loc[:1] == ["cards"] and len(loc) > 1 and isinstance(loc[1], int):
            with contextlib.suppress(KeyError, IndexError, TypeError):
                where += f" ({data['cards'][loc[1]]['name']!r})"
        parts.append(f"{where}: {error['msg']}")
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more


def load_dashboard(path: Path) -> DashboardSpec:
    """One YAML file → a validated spec; any problem is a UserError naming the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise UserError(f"{path}: invalid YAML{where}: {_one_line(problem)}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping with name, collection and cards")
    try:
        spec = DashboardSpec.model_validate({**data, "source": path})
    except ValidationError as exc:
        raise UserError(f"{path}: {_validation_message(exc, data)}") from None
    problems = dashboard_problems(spec)
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UserError(f"{path}: " + "; ".join(problems[:3]) + more)
    return spec


def load_dashboards(folder: Path) -> list[DashboardSpec]:
    """Every ``*.yml``/``*.yaml`` of the folder, by file name; names unique across the set.

    Cards are matched in Metabase by name within their collection, so two dashboards of one collection
    may not have cards of the same name.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"no dashboard folder at {folder}")
    paths = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    if not paths:
        raise UserError(f"no dashboard specs (*.yml) in {folder}")
    specs = [load_dashboard(path) for path in paths]
    dashboards: dict[tuple[str, str], Path] = {}
    cards: dict[tuple[str, str], Path] = {}
    for spec in specs:
        key = (spec.collection.lower(), spec.name.lower())
        if key in dashboards:
            raise UserError(f"{spec.source}: dashboard {spec.name!r} is also defined in {dashboards[key]}")
        dashboards[key] = spec.source
        for card in spec.cards:
            key = (spec.collection.lower(), card.name.lower())
            if key in cards and cards[key] != spec.source:
                raise UserError(
                    f"{spec.source}: card {card.name!r} is also in {cards[key]}, same collection "
                    f"{spec.collection!r}: card names must be unique within a collection"
                )
            cards[key] = spec.source
    return specs
