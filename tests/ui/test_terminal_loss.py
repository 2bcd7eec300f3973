"""procwatch never outlives its terminal: a pty whose master is closed (a window closed, ssh dropped, a tmux server
killed) ends it within a second without spinning, and with no terminal at all the TUI refuses to start."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

ENV = dict(os.environ, TERM="xterm-256color", COLUMNS="100", LINES="30", TEXTUAL_ANIMATIONS="none")


def cpu_seconds(pid: int) -> float:
    from procwatch.engine import procfs

    fields = procfs.stat_fields(pid)
    assert fields is not None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_on_pty(*args: str) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(sys.executable, [sys.executable, "-m", "procwatch", *args], ENV)
        finally:
            os._exit(127)
    output = bytearray()
    deadline = time.monotonic() + 20
    while b"processes" not in output:  # the summary bar is drawn: the app runs
        assert time.monotonic() < deadline, bytes(output[-500:])
        if select.select([fd], [], [], 0.1)[0]:
            output += os.read(fd, 65536)
    return pid, fd


def reap_within(pid: int, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    return None


@pytest.mark.parametrize("demo", [False, True], ids=["monitor", "with-sandbox"])
def test_closing_the_terminal_ends_procwatch_within_a_second(demo):
    pid, fd = start_on_pty()
    try:
        if demo:
            os.write(fd, b"z")  # a zombie demo, up or still starting when the terminal goes: both must end
        closed = time.monotonic()
        os.close(fd)
        status = reap_within(pid, 1.0)
        took = time.monotonic() - closed
        assert status is not None, "procwatch still runs 1 s after its terminal went away"
        assert took < 1.0
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def test_a_lost_terminal_does_not_spin_before_it_exits():
    """CPU used between the hang-up and the exit: a spinning input thread would burn the whole second."""
    pid, fd = start_on_pty()
    try:
        before = cpu_seconds(pid)
        os.close(fd)
        deadline = time.monotonic() + 1.0
        spent = 0.0
        while time.monotonic() < deadline:
            try:
                spent = cpu_seconds(pid) - before
            except AssertionError:
                break  # gone (or a zombie without stat fields): it ended
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        else:
            raise AssertionError("procwatch still runs 1 s after its terminal went away")
        assert spent < 0.5, f"{spent:.2f} s of CPU after the hang-up"
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


@pytest.mark.parametrize("where", ["stdout-pipe", "stdin-devnull"])
def test_without_a_terminal_the_tui_refuses_in_one_line(where):
    # stdout a pipe (`procwatch | head`), or stdin not a terminal while stdout is one
    stdin = subprocess.DEVNULL
    if where == "stdin-devnull":
        master, slave = pty.openpty()
        result = subprocess.run([sys.executable, "-m", "procwatch"], stdout=slave, stderr=subprocess.PIPE,
                                stdin=stdin, timeout=20, env=ENV)
        os.close(slave)
        os.close(master)
        result.stdout = b""
    else:
        result = subprocess.run([sys.executable, "-m", "procwatch"], capture_output=True, stdin=stdin, timeout=20,
                                env=ENV)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "--once" in lines[0] and "terminal" in lines[0]
    assert result.stdout == b""


WATCH_WITHOUT_SIGHUP = r"""
import os, pty, signal, sys, time
from procwatch.ui.launcher import _TerminalWatch

signal.signal(signal.SIGHUP, signal.SIG_IGN)  # no SIGHUP arrives: the watch alone must notice
master, slave = pty.openpty()

class StuckApp:  # an app whose event loop never ends: exit() is asked for, nothing happens
    class sandbox_controller:
        @staticmethod
        def close():
            print("sandbox closed", flush=True)
    def exit(self, result, code):
        print("exit asked", code, flush=True)

with _TerminalWatch(StuckApp(), (slave,)):
    print("watching", flush=True)
    os.close(master)
    time.sleep(10)
print("not reached", flush=True)
"""


def test_the_watch_ends_a_stuck_app_when_no_sighup_comes():
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", WATCH_WITHOUT_SIGHUP], capture_output=True, text=True, timeout=20)
    took = time.monotonic() - started
    assert result.stdout.splitlines() == ["watching", "exit asked 129", "sandbox closed"], result.stderr
    assert result.returncode == 129
    assert took < 5  # interpreter start-up plus at most GRACE: far below the 10 s the script would sleep


CRASH = r"""
import sys
from procwatch.ui.app import ProcwatchApp
from procwatch import cli

def broken(self):
    raise RuntimeError("can't start new thread")

ProcwatchApp.on_mount = broken
sys.exit(cli.main(["--no-sandbox"]))
"""


def test_a_crash_exits_non_zero_with_one_line_saying_what_failed():
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(sys.executable, [sys.executable, "-c", CRASH], ENV)
        finally:
            os._exit(127)
    output = bytearray()
    deadline = time.monotonic() + 30
    status = None
    while status is None:
        assert time.monotonic() < deadline, bytes(output[-500:])
        if select.select([fd], [], [], 0.05)[0]:
            try:
                output += os.read(fd, 65536)
            except OSError:
                pass
        done, code = os.waitpid(pid, os.WNOHANG)
        status = code if done else None
    os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0
    assert b"procwatch: ended by an internal error: RuntimeError(\"can't start new thread\")" in output


def test_term_dumb_is_refused_in_one_line():
    master, slave = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "procwatch"], stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                                timeout=20, env=dict(ENV, TERM="dumb"))
    finally:
        os.close(slave)
        os.close(master)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "TERM" in lines[0] and "--once" in lines[0]
