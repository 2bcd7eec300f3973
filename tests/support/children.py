"""The `children` fixture: every child a test starts is killed (SIGKILL: it also ends stopped processes) and
reaped whatever the outcome; `no_leftover_children` proves nothing the test started is left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from support.polling import DEADLINE
from support.procs import LIFETIME, PYTHON, own_children, read_line, wait_state


class Children:
    """Starts the test's own children and always kills and reaps them."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.eof_helpers: set[subprocess.Popen] = set()

    def start(self, args, *, exits_on_eof: bool = False, **kwargs) -> subprocess.Popen:
        """Popen, tracked. `exits_on_eof`: a helper that cleans up its own children when its stdin closes."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(args, **kwargs)
        self.procs.append(proc)
        if exits_on_eof:
            self.eof_helpers.add(proc)
        return proc

    def sleeper(self, **kwargs) -> subprocess.Popen:
        """`sleep` in S (Popen returns after the exec succeeded, so comm is already `sleep`)."""
        proc = self.start(["sleep", LIFETIME], **kwargs)
        wait_state(proc.pid, "S")
        return proc

    def python(self, code: str, *args, state: str | None = "S", **kwargs) -> subprocess.Popen:
        """A python child that prints `ready` once set up; returns after reading it and, unless `state` is
        None, once the child has gone on to reach that state (it is running between its print and its sleep)."""
        proc = self.start([PYTHON, "-c", code, *args], stdout=subprocess.PIPE, **kwargs)
        assert read_line(proc) == "ready"
        if state is not None:
            wait_state(proc.pid, state)
        return proc

    def zombie(self, code: int = 3) -> subprocess.Popen:
        """A child that exits with `code` and is not waited for (the Popen object is kept, so nothing reaps it)."""
        proc = self.start(["sh", "-c", f"exit {code}"])
        wait_state(proc.pid, "Z")
        return proc

    def reap(self, proc: subprocess.Popen) -> int:
        """waitpid the child ourselves and return the raw wait status (Popen only keeps the decoded one)."""
        _, status = os.waitpid(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return status

    def cleanup(self) -> None:
        for proc in reversed(self.procs):
            if proc.stdin and not proc.stdin.closed:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # helpers clean up their own children on EOF
        for proc in reversed(self.procs):
            if proc.returncode is None and proc in self.eof_helpers:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=3)
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGKILL)  # our own child, not yet reaped: the pid is still ours
                proc.wait(timeout=DEADLINE)
            if proc.stdout:
                proc.stdout.close()
            if proc.stderr:
                proc.stderr.close()


@pytest.fixture
def children() -> Iterator[Children]:
    kids = Children()
    try:
        yield kids
    finally:
        kids.cleanup()


@pytest.fixture
def no_leftover_children() -> Iterator[None]:
    """After the test (and after `children` cleaned up): nothing the test started is left, alive or zombie."""
    before = set(own_children())
    yield
    left = [pid for pid in own_children() if pid not in before]
    for pid in left:  # ours by construction (our children): end them so one failure does not leak
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert not left, f"the test left children behind: {left}"
