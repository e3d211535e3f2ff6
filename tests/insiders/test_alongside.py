"""A function in a forked child beside the cycle (insiders.alongside): its value or its exception comes
back, a dead child is a clear error, the parent's connections survive it, and it dies with its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from insiders import db
from insiders.alongside import Alongside
from insiders.errors import StepFailedError, UserError


def _pid_and(value):
    return os.getpid(), value


def test_the_value_comes_back_from_another_process():
    child_pid, value = Alongside("job", _pid_and, {"rows": [1, 2, 3]}).result()
    assert value == {"rows": [1, 2, 3]}
    assert child_pid != os.getpid()


def _raise_user_error():
    raise UserError("backtest impossible on purpose")


def test_its_exception_is_raised_here_with_its_type_and_text():
    with pytest.raises(UserError, match="impossible on purpose"):
        Alongside("backtest", _raise_user_error).result()


class _Unpicklable(Exception):
    def __init__(self, handle):
        super().__init__("cannot travel")
        self.handle = handle

    def __reduce__(self):
        raise TypeError("no pickling")


def _raise_unpicklable():
    raise _Unpicklable(object())


def test_an_exception_that_cannot_travel_arrives_as_its_text():
    with pytest.raises(StepFailedError, match="_Unpicklable: cannot travel"):
        Alongside("backtest", _raise_unpicklable).result()


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_child_that_dies_is_a_step_failure_naming_it():
    with pytest.raises(StepFailedError, match=f"backtest died \\(exit code {-signal.SIGKILL}\\)"):
        Alongside("backtest", _die).result()


def _query_in_own_connection(url):
    with db.raw_connection(url) as conn, conn.cursor() as cur:
        cur.execute("select 41 + 1")
        return cur.fetchone()[0]


def test_the_parents_connection_survives_the_child(database_url):
    with db.raw_connection(database_url) as conn, conn.cursor() as cur:
        cur.execute("select pg_backend_pid()")
        backend = cur.fetchone()[0]
        assert Alongside("query", _query_in_own_connection, database_url).result() == 42
        cur.execute("select pg_backend_pid()")  # the same session, still usable
        assert cur.fetchone()[0] == backend


def _sleep_and_tell(path):
    with open(path, "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(120)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead, waiting for its reaper
        return fh.read().split()[2] != "Z"


def _wait_for(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_cancel_stops_the_child(tmp_path):
    marker = tmp_path / "pid"
    job = Alongside("sleeper", _sleep_and_tell, str(marker))
    assert _wait_for(lambda: marker.exists() and marker.read_text())
    job.cancel()
    assert not _alive(int(marker.read_text()))


def test_the_child_dies_with_its_parent(tmp_path):
    marker = tmp_path / "pid"
    parent = textwrap.dedent(
        f"""
        import os, signal, sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from insiders.alongside import Alongside
        from tests.insiders.test_alongside import _sleep_and_tell
        Alongside("sleeper", _sleep_and_tell, {str(marker)!r})
        while not os.path.exists({str(marker)!r}) or not open({str(marker)!r}).read():
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert subprocess.run([sys.executable, "-c", parent], timeout=60).returncode == -signal.SIGKILL
    child = int(marker.read_text())
    assert _wait_for(lambda: not _alive(child)), "the child outlived its killed parent"
