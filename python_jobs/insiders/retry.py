"""Retries with exponential backoff for transient failures; permanent ones fail at once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg2

log = logging.getLogger(__name__)
T = TypeVar("T")

# Connection problems that say nothing will change by retrying.
PERMANENT_MARKERS = (
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "invalid dsn",
    "invalid connection option",
    "sslmode value",
)


def is_transient_db_error(exc: BaseException) -> bool:
    """A dropped or refused connection, a server starting up or shutting down: worth another try."""
    import sqlalchemy.exc

    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig or exc
    if isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError):
        text = str(exc).lower()
        return not any(marker in text for marker in PERMANENT_MARKERS)
    return False


def with_retries(
    func: Callable[[], T],
    *,
    what: str,
    attempts: int = 5,
    first_delay_s: float = 0.5,
    max_delay_s: float = 15.0,
    is_transient: Callable[[BaseException], bool] = is_transient_db_error,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return func()
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            log.warning(
                "%s: transient error (attempt %d/%d), retrying in %.1fs: %s",
                what, attempt, attempts, delay, str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
            )  # fmt: skip
            sleep(delay)
            delay = min(delay * 2, max_delay_s)
    raise AssertionError("unreachable")
