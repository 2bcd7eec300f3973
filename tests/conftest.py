"""Shared helpers for the tests.

Engine tests use real processes: the test's own children, put into a state and compared with `ps`. Every child
goes through the `children` fixture, which kills (SIGKILL: it also ends stopped processes) and reaps it whatever
the outcome. Waiting is always polling with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from typing import Callable, TypeVar

import pytest

PYTHON = sys.executable
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEADLINE = 10.0  # seconds: generous for a loaded CI machine; a healthy run waits milliseconds
LIFETIME = "60"  # every sleeping child ends by itself even if everything else fails

T = TypeVar("T")

# Python children for `Children.python`: they print "ready" once set up, then sleep.
PY_SLEEP = f"import time\nprint('ready', flush=True)\ntime.sleep({LIFETIME})"
PY_THREADS = ("import threading, time\n"
              f"for _ in range(2):\n    threading.Thread(target=time.sleep, args=({LIFETIME},), daemon=True).start()\n"
              f"print('ready', flush=True)\ntime.sleep({LIFETIME})")  # 3 threads: ps shows l


def wait_until(predicate: Callable[[], T], timeout: float = DEADLINE, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def poll(predicate: Callable[[], T], timeout: float = 3.0, interval: float = 0.01) -> T:
    """The predicate's last value, polled until it is truthy or the time is up (the caller asserts on it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def read_stat(pid: int) -> tuple[str, list[str]] | None:
    """(comm, fields from field 3 on) straight from /proc, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    close = raw.rindex(b")")
    return raw[raw.index(b"(") + 1 : close].decode(errors="surrogateescape"), raw[close + 2 :].decode().split()


def kernel_state(pid: int) -> str | None:
    stat = read_stat(pid)
    return stat[1][0] if stat else None


def wait_state(pid: int, letter: str) -> None:
    wait_until(lambda: kernel_state(pid) == letter, what=f"pid {pid} to reach state {letter}")


def ps_stat(pid: int) -> str:
    """STAT of one process as procps prints it (empty when the process is gone)."""
    result = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, timeout=DEADLINE)
    return result.stdout.strip()


def ps_all_stats() -> dict[int, str]:
    result = subprocess.run(["ps", "-eo", "pid=,stat="], capture_output=True, text=True, timeout=DEADLINE,
                            check=True)
    stats = {}
    for line in result.stdout.splitlines():
        pid, stat = line.split()
        stats[int(pid)] = stat
    return stats


def read_line(proc: subprocess.Popen, timeout: float = DEADLINE) -> str:
    """One line from a child's stdout pipe, failing (not hanging) when the child says nothing in time."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"child {proc.pid} printed nothing within {timeout:g}s")
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"child {proc.pid} closed its stdout (exit status {proc.poll()})")
    return line.decode().strip()


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
                try:
                    proc.stdin.close()  # helpers clean up their own children on EOF
                except OSError:
                    pass
        for proc in reversed(self.procs):
            if proc.returncode is None and proc in self.eof_helpers:
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    pass
            if proc.returncode is None:
                try:
                    proc.send_signal(signal.SIGKILL)  # our own child, not yet reaped: the pid is still ours
                except ProcessLookupError:
                    pass
                proc.wait(timeout=DEADLINE)
            if proc.stdout:
                proc.stdout.close()
            if proc.stderr:
                proc.stderr.close()


@pytest.fixture
def children():
    kids = Children()
    try:
        yield kids
    finally:
        kids.cleanup()


def own_children() -> list[int]:
    """Processes whose parent is this test process (live or zombie)."""
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(int(name))
            if stat and int(stat[1][1]) == me:
                found.append(int(name))
    return found


def descendants(root: int) -> list[tuple[int, int]]:
    """(pid, start time) of every live or zombie descendant of root, from one pass over /proc."""
    parent_of: dict[int, int] = {}
    start_of: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := read_stat(int(name))):
            parent_of[int(name)], start_of[int(name)] = int(stat[1][1]), int(stat[1][19])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parent_of.items():
            if parent == pid:
                found.append((child, start_of[child]))
                frontier.append(child)
    return found


def running(identity: tuple[int, int]) -> bool:
    """The process with this identity exists and is not a zombie."""
    stat = read_stat(identity[0])
    return stat is not None and int(stat[1][19]) == identity[1] and stat[1][0] != "Z"


@pytest.fixture
def no_leftover_children():
    """After the test (and after `children` cleaned up): nothing the test started is left, alive or zombie."""
    before = set(own_children())
    yield
    left = [pid for pid in own_children() if pid not in before]
    for pid in left:  # ours by construction (our children): end them so one failure does not leak
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    assert not left, f"the test left children behind: {left}"


def pytest_terminal_summary(terminalreporter):
    """Print the numbers the issue's closing note asks for (recorded by tests with `record_property`)."""
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name.startswith("summary:") and getattr(report, "when", "call") == "call":
                    lines.append(f"{name[len('summary:'):]}: {value}")
    if lines:
        terminalreporter.section("procwatch engine numbers")
        for line in sorted(set(lines)):
            terminalreporter.write_line(line)
