"""What a push did (or, in a dry run, would do): one line per object, counted by action and kind."""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("collection", "card", "dashboard", "table", "field")
ACTIONS = ("created", "updated", "unchanged")


@dataclass(frozen=True)
class Change:
    kind: str  # one of KINDS
    name: str
    action: str  # one of ACTIONS
    id: int | None = None  # None for an object a dry run would create


@dataclass
class PushReport:
    dry_run: bool = False
    changes: list[Change] = field(default_factory=list)
    dashboard_urls: dict[str, str] = field(default_factory=dict)
    stray_cards: list[str] = field(default_factory=list)  # in a pushed collection, in no spec (left as is)
    missing_tables: list[str] = field(default_factory=list)  # documented by dbt, unknown to Metabase
    missing_columns: list[str] = field(default_factory=list)  # documented, not in a known table yet
    sync_requested: bool = False  # the push asked Metabase to sync the schema (POST .../sync_schema)
    warnings: list[str] = field(default_factory=list)

    def add(self, kind: str, name: str, action: str, id: int | None = None) -> None:
        assert kind in KINDS and action in ACTIONS, (kind, action)
        self.changes.append(Change(kind, name, action, id))

    def count(self, action: str, kind: str | None = None) -> int:
        return sum(1 for c in self.changes if c.action == action and (kind is None or c.kind == kind))

    @property
    def created(self) -> int:
        return self.count("created")

    @property
    def updated(self) -> int:
        return self.count("updated")

    @property
    def unchanged(self) -> int:
        return self.count("unchanged")

    def summary(self) -> str:
        parts = []
        for kind in KINDS:
            counts = [f"{self.count(a, kind)} {a}" for a in ACTIONS if self.count(a, kind)]
            if counts:
                parts.append(f"{kind}s: {', '.join(counts)}")
        text = "; ".join(parts) or "nothing to push"
        return f"dry run, nothing written: {text}" if self.dry_run else text

    def lines(self) -> list[str]:
        """Human-readable lines for the CLI: changes first, then dashboards' URLs and warnings."""
        verb = {"created": "would create", "updated": "would update"} if self.dry_run else {}
        out = [
            f"{verb.get(c.action, c.action)} {c.kind} {c.name!r}" + (f" (id {c.id})" if c.id else "")
            for c in self.changes
            if c.action != "unchanged"
        ]
        out += [f"dashboard {name!r}: {url}" for name, url in self.dashboard_urls.items()]
        out += [f"warning: card {name!r} is in no spec (left as is)" for name in self.stray_cards]
        if self.sync_requested:
            out.append("asked Metabase to sync the database schema (new tables)")
        after = "push again once Metabase's sync found it" if self.sync_requested else "sync the database"
        out += [f"warning: {name} is not in Metabase yet ({after})" for name in self.missing_tables]
        out += [f"warning: column {name} is not in Metabase yet ({after})" for name in self.missing_columns]
        out += [f"warning: {text}" for text in self.warnings]
        out.append(self.summary())
        return out
