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
        out += [f"warning: {name} is not in Metabase yet (sync the database)" for name in self.missing_tables]
        out.append(self.summary())
        return out
