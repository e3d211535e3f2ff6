"""Logging, configured once by the CLI: human-readable lines by default, JSON lines on request."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
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


class StepTimer:
    """The one step timer: logs each step's start and end (with its duration and extra fields), keeps
    the seconds per step in ``seconds`` and tells ``on_step(name, seconds)`` when a step is done."""

    def __init__(
        self,
        log: logging.Logger,
        seconds: dict[str, float] | None = None,
        on_step: Callable[[str, float], None] | None = None,
        level: int = logging.INFO,
    ):
        self.log, self.on_step, self.level = log, on_step, level
        self.seconds = {} if seconds is None else seconds

    @contextmanager
    def __call__(self, step: str, **fields) -> Iterator[dict]:
        extra: dict = dict(fields)
        self.log.log(self.level, "%s: started", step, extra={"step": step})
        t0 = time.perf_counter()
        try:
            yield extra
        except BaseException:
            self.log.error("%s: failed after %.1fs", step, time.perf_counter() - t0, extra={"step": step})
            raise
        seconds = time.perf_counter() - t0
        self.seconds[step] = seconds
        extra["seconds"] = round(seconds, 3)
        details = " ".join(f"{k}={v}" for k, v in extra.items() if k != "seconds")
        self.log.log(
            self.level, "%s: done in %.1fs %s", step, seconds, details, extra={"step": step, **extra}
        )
        if self.on_step:
            self.on_step(step, seconds)


def timed(log: logging.Logger, step: str, **fields):
    """Log the start and end (with duration) of one step; the yielded dict collects extra fields."""
    return StepTimer(log)(step, **fields)
