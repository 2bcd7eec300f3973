"""The real app in a real pseudo-terminal: SIGTERM, SIGHUP and ctrl+c restore the terminal, and no sandbox
process outlives procwatch, however it ends (SIGKILL included)."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time

import pytest
from support.polling import wait_until
from support.procs import descendant_identities, running

LEAVE_ALT_SCREEN = b"\x1b[?1049l"


class Terminal:
    def __init__(self, *args: str) -> None:
        env = dict(os.environ, TERM="xterm-256color", COLUMNS="140", LINES="40", TEXTUAL_ANIMATIONS="none")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: procwatch on the pty
            try:
                os.execve(sys.executable, [sys.executable, "-m", "procwatch", *args], env)
            finally:
                os._exit(127)
        self.output = bytearray()
        self.status: int | None = None

    def read(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.output += chunk

    def wait_for(self, needle: bytes, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while needle not in self.output:
            assert time.monotonic() < deadline, f"{needle!r} never appeared"
            self.read(0.1)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait_exit(self, seconds: float = 10) -> int:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.read(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.read(0.2)
                self.status = status
                return status
        raise AssertionError("procwatch did not exit")

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        os.close(self.fd)


@pytest.fixture
def terminal():
    made: list[Terminal] = []

    def start(*args: str) -> Terminal:
        made.append(Terminal(*args))
        return made[-1]

    yield start
    for t in made:
        t.close()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "ctrl+c", "q"])
def test_ending_restores_the_terminal_and_leaves_no_demo(terminal, how):
    t = terminal("--interval", "0.5")
    t.wait_for(b"processes")
    t.send(b"z")  # a zombie demo: a supervisor, a parent and its zombie child
    t.wait_for(b"os._exit(3)")
    demos = descendant_identities(t.pid)
    assert len(demos) >= 3
    mark = len(t.output)
    if how.startswith("SIG"):
        os.kill(t.pid, getattr(signal, how))
    else:
        t.send(b"\x03" if how == "ctrl+c" else b"q")
    status = t.wait_exit()
    assert LEAVE_ALT_SCREEN in t.output[mark:], "the terminal was not restored"
    if how.startswith("SIG"):
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 128 + getattr(signal, how)
    else:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    wait_until(lambda: not any(running(d) for d in demos), what="every sandbox process to end with procwatch")


def test_sigkill_of_procwatch_still_ends_every_demo(terminal):
    t = terminal("--interval", "0.5")
    t.wait_for(b"processes")
    t.send(b"z")
    t.wait_for(b"os._exit(3)")
    t.send(b"o")
    t.wait_for(b"orphan")
    demos = descendant_identities(t.pid)
    os.kill(t.pid, signal.SIGKILL)
    t.wait_exit()
    # (how soon, with the supervisor frozen too: tests/sandbox/test_stopped_supervisor.py)
    wait_until(lambda: not any(running(d) for d in demos), what="every sandbox process to end after the SIGKILL")
