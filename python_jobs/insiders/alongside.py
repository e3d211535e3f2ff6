"""One function run in a forked child process while this process goes on: the cycle's backtest fit
beside its segmentation and forecast. Each is one Python thread of numeric work, so on 2 cores
the two run side by side (threads would take turns under the GIL: measured no faster at 1x).

The child is forked (it starts with this process's modules, nothing to import again) and opens its own
database connections; it never touches the ones it inherited, and it leaves by ``os._exit`` without
running their finalisers, so the parent's connections (the cycle lock's among them) stay intact.
Its result, or its exception, comes back pickled through a pipe. ``cancel()`` stops it, and so does
the parent's death (Linux: PR_SET_PDEATHSIG): a killed cycle leaves no child writing behind it.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable

from insiders.errors import StepFailedError

log = logging.getLogger(__name__)


PR_SET_PDEATHSIG = 1


def _die_with(parent_pid: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: cancel() and the pipe's EOF still hold
        log.debug("no PR_SET_PDEATHSIG here")
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)


def _child(parent_pid: int, send, fn: Callable, args: tuple, kwargs: dict) -> None:
    _die_with(parent_pid)
    t0 = time.perf_counter()
    try:
        outcome = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # whatever it is, the parent re-raises it
        outcome = ("error", exc)
    try:
        send.send((*outcome, time.perf_counter() - t0))
    except Exception as exc:  # the exception itself would not pickle: its text does
        send.send(("error", StepFailedError(f"{type(outcome[1]).__name__}: {outcome[1]} ({exc})"), 0.0))
    send.close()


class Alongside:
    """``fn(*args, **kwargs)`` in a forked child, started at once; ``result()`` waits for it."""

    def __init__(self, what: str, fn: Callable, *args, **kwargs) -> None:
        context = multiprocessing.get_context("fork")
        self.what = what
        self.seconds = 0.0
        self._receive, send = context.Pipe(duplex=False)
        child_args = (os.getpid(), send, fn, args, kwargs)
        self._process = context.Process(target=_child, args=child_args, daemon=True)
        self._process.start()
        send.close()  # the child holds the other end: a dead child is then an EOF here

    def result(self):
        """The function's value; its exception re-raised here; StepFailedError if the child died."""
        try:
            status, value, self.seconds = self._receive.recv()
        except EOFError:
            self._process.join()
            raise StepFailedError(f"{self.what} died (exit code {self._process.exitcode})") from None
        finally:
            self._receive.close()
        self._process.join()
        if status == "error":
            raise value
        log.debug("%s done alongside in %.1fs", self.what, self.seconds)
        return value

    def cancel(self) -> None:
        """Stop the child (the cycle failed elsewhere); what it committed stays, as after any failure."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._receive.close()
