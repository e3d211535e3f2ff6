"""Logging, configured once by the CLI: human-readable lines by default, JSON lines on request."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def timed(log: logging.Logger, step: str, **fields) -> Iterator[dict]:
    """Log the start and end (with duration) of a step; the yielded dict collects extra fields."""
    extra: dict = dict(fields)
    log.info("%s: started", step, extra={"step": step})
    t0 = time.perf_counter()
    try:
        yield extra
    except BaseException:
        log.error("%s: failed after %.1fs", step, time.perf_counter() - t0, extra={"step": step})
        raise
    extra["seconds"] = round(time.perf_counter() - t0, 3)
    details = " ".join(f"{k}={v}" for k, v in extra.items() if k != "seconds")
    log.info("%s: done in %.1fs %s", step, extra["seconds"], details, extra={"step": step, **extra})
