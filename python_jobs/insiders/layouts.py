"""Export layouts: one small YAML file per shop export (layouts/*.yml), validated with pydantic.

A layout says which header holds each standard column and how its values are written (delimiter,
decimal comma, date format...). The loader uses it to find the columns and read the CSV; the
parsing rules (date pattern, separators, cancellation marker) are recorded with each file in
raw.files, and dbt staging casts every file's text by its own rules. A layout may instead name a
relation already in the warehouse (``source: {schema, table}``): then no file is loaded at all.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from insiders.errors import UserError
from insiders.settings import PROJECT_ROOT

LAYOUTS_DIR = PROJECT_ROOT / "layouts"
DEFAULT_LAYOUT = "online_retail"

# The standard columns, each with the raw.transactions column its text is loaded into.
STANDARD_COLUMNS = {
    "invoice_id": "invoice_no",
    "stock_code": "stock_code",
    "description": "description",
    "quantity": "quantity",
    "invoiced_at": "invoice_date",
    "unit_price": "unit_price",
    "customer_id": "customer_id",
    "country": "country",
}
OPTIONAL_COLUMNS = frozenset({"description", "country"})  # missing ones are loaded as nulls
RELATION_ONLY_COLUMNS = frozenset({"line_id"})  # a stable key of each line of a relation


class LayoutError(UserError):
    """A layout file that cannot be used: one clear line, exit code 2."""


# ------------------------------------------------------------------------------------ date formats
@dataclass(frozen=True)
class DatePattern:
    """A strptime format as a regex whose groups are the date's parts (what staging extracts)."""

    regex: str
    groups: dict[str, int]  # year, month, day, hour, minute, second, ampm → group number (1-based)
    is_two_digit_year: bool
    is_month_name: bool


_DIRECTIVES = {
    "Y": ("year", "([0-9]{4})"),
    "y": ("year", "([0-9]{2})"),
    "m": ("month", "([0-9]{1,2})"),
    "b": ("month", "([A-Za-z]{3})"),
    "B": ("month", "([A-Za-z]{3})[A-Za-z]*"),
    "d": ("day", "([0-9]{1,2})"),
    "H": ("hour", "([0-9]{1,2})"),
    "I": ("hour", "([0-9]{1,2})"),
    "M": ("minute", "([0-9]{1,2})"),
    "S": ("second", "([0-9]{1,2})"),
    "p": ("ampm", "([AaPp][Mm])"),
    "f": (None, "[0-9]{1,6}"),
}


def date_pattern(date_format: str) -> DatePattern:
    """Translate a strptime format (``%d.%m.%Y %H:%M``) into a DatePattern, or ValueError."""
    regex, groups, i = "^", {}, 0
    two_digit = month_name = twelve_hour = False
    while i < len(date_format):
        ch = date_format[i]
        if ch != "%":
            regex += r"\s+" if ch.isspace() else re.escape(ch)
            i += 1
            continue
        code = date_format[i + 1 : i + 2]
        i += 2
        if code == "%":
            regex += "%"
            continue
        if code not in _DIRECTIVES:
            supported = " ".join(f"%{c}" for c in _DIRECTIVES)
            raise ValueError(f"%{code} is not supported (supported: {supported} %%)")
        part, piece = _DIRECTIVES[code]
        regex += piece
        if part is None:
            continue
        if part in groups:
            raise ValueError(f"the {part} appears twice")
        groups[part] = len(groups) + 1
        two_digit |= code == "y"
        month_name |= code in "bB"
        twelve_hour |= code == "I"
    missing = [p for p in ("year", "month", "day") if p not in groups]
    if missing:
        raise ValueError("no " + ", ".join(missing))
    if twelve_hour != ("ampm" in groups):
        raise ValueError("%I (12-hour clock) and %p (AM/PM) go together")
    return DatePattern(regex + "$", groups, two_digit, month_name)


# ------------------------------------------------------------------------------------- the model
class Relation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_name: str = Field(alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$")
    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$")


class Layout(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = ""
    description: str = ""
    columns: dict[str, str]
    delimiter: str = ","
    quotechar: str = '"'
    decimal: Literal[".", ","] = "."
    thousands: Literal["", ",", ".", " ", "'"] = ""
    encoding: str = "auto"
    date_format: str = "%m/%d/%Y %H:%M"
    cancellation_prefix: str = Field("C", min_length=1, max_length=10)
    adjustment_prefix: str = Field("A", min_length=1, max_length=10)
    ignore_columns: list[str] = Field(default_factory=list)
    source: Relation | None = None

    @field_validator("delimiter", "quotechar")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1 or value in "\r\n":
            raise ValueError("must be one character (not a line break)")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        if value != "auto":
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(
                    f"unknown encoding {value!r} (auto, or a Python codec such as cp1252)"
                ) from None
        return value

    @field_validator("date_format")
    @classmethod
    def _translatable(cls, value: str) -> str:
        date_pattern(value)
        return value

    @model_validator(mode="after")
    def _columns(self) -> Layout:
        allowed = set(STANDARD_COLUMNS) | (RELATION_ONLY_COLUMNS if self.source else set())
        unknown = sorted(set(self.columns) - allowed)
        if unknown:
            raise ValueError(
                f"unknown standard column(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})"
            )
        missing = [c for c in STANDARD_COLUMNS if c not in self.columns and c not in OPTIONAL_COLUMNS]
        if missing:
            raise ValueError(f"missing required column(s) {', '.join(missing)} in columns:")
        headers = [h.lower() for h in self.columns.values()]
        if len(set(headers)) != len(headers):
            raise ValueError("two standard columns name the same header")
        if self.decimal == self.thousands:
            raise ValueError("decimal and thousands separators must differ")
        if self.delimiter == self.quotechar:
            raise ValueError("delimiter and quotechar must differ")
        return self

    # ------------------------------------------------------------------------------- derived
    @property
    def is_relation(self) -> bool:
        return self.source is not None

    @property
    def dates(self) -> DatePattern:
        return date_pattern(self.date_format)

    def as_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True, exclude_defaults=False), sort_keys=True)

    def parse_rules(self) -> dict[str, object]:
        """What staging needs to cast this layout's text: recorded with each file in raw.files."""
        dates = self.dates
        g = dates.groups
        return {
            "layout_name": self.name,
            "layout": self.as_json(),
            "date_pattern": dates.regex,
            "date_year_group": g["year"],
            "date_month_group": g["month"],
            "date_day_group": g["day"],
            "date_hour_group": g.get("hour"),
            "date_minute_group": g.get("minute"),
            "date_second_group": g.get("second"),
            "date_ampm_group": g.get("ampm"),
            "is_two_digit_year": dates.is_two_digit_year,
            "is_month_name": dates.is_month_name,
            "decimal_separator": self.decimal,
            "thousands_separator": self.thousands,
            "cancellation_prefix": self.cancellation_prefix.upper(),
            "adjustment_prefix": self.adjustment_prefix.upper(),
        }

    def relation_fingerprint(self) -> str:
        return hashlib.sha256(("relation:" + self.as_json()).encode()).hexdigest()


PARSE_RULE_COLUMNS = tuple(Layout(columns={c: c for c in STANDARD_COLUMNS}).parse_rules())


# -------------------------------------------------------------------------------------- loading
def resolve_layout_path(name_or_path: str | None, layouts_dir: Path = LAYOUTS_DIR) -> Path:
    """A bare name is a file of layouts/ (``online_retail_ii``); anything else is a path."""
    value = name_or_path or DEFAULT_LAYOUT
    looks_like_path = "/" in value or value.endswith((".yml", ".yaml"))
    path = Path(value) if looks_like_path else layouts_dir / f"{value}.yml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in layouts_dir.glob("*.yml")))
        raise LayoutError(f"layout {value!r} not found ({path}); shipped layouts: {known}")
    return path


def load_layout(name_or_path: str | None = None, layouts_dir: Path = LAYOUTS_DIR) -> Layout:
    """The validated layout, or LayoutError (one line naming the file and what is wrong)."""
    path = resolve_layout_path(name_or_path, layouts_dir)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise LayoutError(f"layout {path}: not valid YAML: {first}") from None
    if not isinstance(data, dict):
        raise LayoutError(f"layout {path}: expected a mapping of keys (columns:, delimiter:...)")
    data.setdefault("name", path.stem)
    try:
        return Layout.model_validate(data)
    except ValidationError as exc:
        raise LayoutError(f"layout {path}: {_one_line(exc)}") from None


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key {where!r}")
        elif err["type"] == "missing":
            parts.append(f"missing key {where!r}")
        else:
            message = err["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
