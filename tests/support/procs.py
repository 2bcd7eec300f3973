"""Facts about single processes, read through the engine's own reader, procwatch.engine.procfs.

Field numbers follow proc(5) as procfs does: `stat_fields(pid)[i]` is field i + 3 (state [0], ppid [1], pgrp [2],
session [3], tpgid [5], utime [11], stime [12], start time [19]). Values are bytes, as procfs returns them."""

from __future__ import annotations

import os
import select
import subprocess
import sys

from procwatch.engine import procfs
from procwatch.engine.stat import format_stat
from support.polling import DEADLINE, wait_until

PYTHON = sys.executable
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIFETIME = "60"  # every sleeping child ends by itself even if everything else fails

# A parent that forks one child named NAME, which exits with status 3; the parent reaps it when told to.
PY_NAMED_ZOMBIE_PARENT = """
import ctypes, os, sys
name = sys.stdin.readline().strip().encode()  # not in argv: the filter must not match the parent
pid = os.fork()
if pid == 0:
    ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)
    os._exit(3)
print(pid, flush=True)
sys.stdin.readline()
os.waitpid(pid, 0)
print('reaped', flush=True)
sys.stdin.readline()
"""
# Python children for `Children.python`: they print "ready" once set up, then sleep.
PY_SLEEP = f"import time\nprint('ready', flush=True)\ntime.sleep({LIFETIME})"
PY_THREADS = ("import threading, time\n"
              f"for _ in range(2):\n    threading.Thread(target=time.sleep, args=({LIFETIME},), daemon=True).start()\n"
              f"print('ready', flush=True)\ntime.sleep({LIFETIME})")  # 3 threads: ps shows l


def read_stat(pid: int) -> tuple[str, list[str]] | None:
    """(comm, fields from field 3 on, as text) of /proc/PID/stat, split by procfs.split_stat; None when gone."""
    try:
        comm, fields = procfs.split_stat(procfs.read(f"{procfs.PROC}/{pid}/stat"))
    except (OSError, ValueError):
        return None
    return comm, [field.decode() for field in fields]


def state_of(pid: int) -> str | None:
    fields = procfs.stat_fields(pid)
    return fields[0].decode() if fields else None


def ppid_of(pid: int) -> int | None:
    fields = procfs.stat_fields(pid)
    return int(fields[1]) if fields else None


def cpu_ticks(pid: int) -> int:
    """utime + stime in clock ticks."""
    fields = procfs.stat_fields(pid)
    assert fields, f"pid {pid} is gone"
    return int(fields[11]) + int(fields[12])


def proc_stat(pid: int) -> str | None:
    """STAT as ps composes it, from /proc only (the engine's facts and formatter); None when it is gone."""
    facts = procfs.stat_facts(pid)
    return format_stat(facts) if facts else None


def cmdline_of(pid: int) -> list[bytes]:
    """argv of a live process, byte for byte."""
    return procfs.read(f"{procfs.PROC}/{pid}/cmdline", limit=None).rstrip(b"\0").split(b"\0")


def alive(identity: tuple[int, int | None]) -> bool:
    """The process with this identity (pid, start ticks) still exists, zombie or not."""
    return identity[1] is not None and procfs.start_ticks(identity[0]) == identity[1]


def running(identity: tuple[int, int]) -> bool:
    """The process with this identity exists and is not a zombie."""
    fields = procfs.stat_fields(identity[0])
    return fields is not None and int(fields[19]) == identity[1] and fields[0] != b"Z"


def wait_state(pid: int, letter: str, timeout: float = DEADLINE) -> None:
    wait_until(lambda: state_of(pid) == letter, timeout, what=f"pid {pid} to reach state {letter}")


def own_children() -> list[int]:
    """Processes whose parent is this test process (live or zombie)."""
    return list(procfs.children_map().get(os.getpid(), ()))


def descendant_identities(root: int) -> list[tuple[int, int]]:
    """(pid, start time) of every live or zombie descendant of root, from one walk of /proc."""
    found = []
    for pid in procfs.descendants(root):
        ticks = procfs.start_ticks(pid)
        if ticks is not None:
            found.append((pid, ticks))
    return found


def read_line(proc: subprocess.Popen, timeout: float = DEADLINE) -> str:
    """One line from a child's stdout pipe, failing (not hanging) when the child says nothing in time."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"child {proc.pid} printed nothing within {timeout:g}s")
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"child {proc.pid} closed its stdout (exit status {proc.poll()})")
    return (line.decode() if isinstance(line, bytes) else line).strip()


def signalled(pid: int, ticks: int | None, signo: int) -> bool:
    """Send signo through the engine's identity check; False (nothing sent) when pid is no longer that process."""
    if ticks is None:
        return False
    try:
        procfs.signal_process((pid, ticks), signo)
    except procfs.SignalRefused:
        return False
    return True
