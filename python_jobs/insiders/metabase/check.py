"""Check the cards' SQL against a real database: ``EXPLAIN`` each query (plans it, runs nothing).

Catches what the regex of ``spec`` cannot: a missing mart or column, a syntax error, and (with ``role``)
a relation the read-only BI role may not read.
"""

from __future__ import annotations

import psycopg2

from insiders.metabase.spec import DashboardSpec


def explain_cards(conn, specs: list[DashboardSpec], *, role: str | None = None) -> list[str]:
    """``EXPLAIN`` every card on a psycopg2 connection (as ``role`` when given); returns the failures as
    ``"<dashboard> / <card>: <error>"`` lines, empty when every card plans. Rolls back after each card."""
    failures = []
    for spec in specs:
        for card in spec.cards:
            try:
                with conn.cursor() as cur:
                    if role:
                        cur.execute("select set_config('role', %s, true)", (role,))
                    cur.execute("explain " + card.sql)
            except psycopg2.Error as exc:
                error = exc.diag.message_primary or " ".join(str(exc).split())
                failures.append(f"{spec.name} / {card.name}: {error}")
            finally:
                conn.rollback()
    return failures
