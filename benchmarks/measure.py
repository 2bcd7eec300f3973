"""Measuring: medians and ratios as table cells, CPU and RSS of a process tree, timed runs of a command.

Everything read from /proc goes through the engine's reader (procwatch.engine.procfs). Field numbers follow
proc(5): `procfs.stat_fields(pid)[i]` is field i + 3, so utime/stime/cutime/cstime (14-17) are [11]..[14].
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from procwatch.engine import procfs

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Skip(Exception):
    """A section (or one tool in it) cannot run here: the reason is printed instead of numbers."""


# -- cells ------------------------------------------------------------------------------------------------------

def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def ms(values: list[float], digits: int = 1) -> str:
    """'median (min-max)' in milliseconds."""
    med, lo, hi = stats(values)
    return f"{med * 1e3:.{digits}f} ({lo * 1e3:.{digits}f}–{hi * 1e3:.{digits}f})"


def per_proc_us(values: list[float], count: int) -> str:
    return f"{statistics.median(values) / max(count, 1) * 1e6:.1f}"


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "∞"


def timings(fn, repeats: int) -> list[float]:
    """Wall seconds of `repeats` calls of fn."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


# -- a process tree, from /proc -----------------------------------------------------------------------------------

def status_kib(pid: int, key: str) -> int | None:
    """A kB line of /proc/PID/status (VmRSS, VmHWM...), None when absent or the process is gone."""
    try:
        raw = procfs.read(f"/proc/{pid}/status")
    except OSError:
        return None
    start = raw.find(b"\n" + key.encode() + b":")
    if start < 0:
        return None
    end = raw.find(b"\n", start + 1)
    try:
        return int(raw[start + len(key) + 2 : end if end >= 0 else None].split()[0])
    except (ValueError, IndexError):
        return None


@dataclass(frozen=True)
class TreeSample:
    """One look at a process and its live descendants."""

    at: float  # time.monotonic() when the root's stat was read
    ticks: int  # utime + stime + cutime + cstime summed over the tree, in clock ticks
    rss_kib: int  # VmRSS summed over the tree
    hwm_kib: int  # VmHWM (peak RSS) summed over the tree
    size: int  # processes in the tree

    def cpu_percent_since(self, earlier: TreeSample) -> float:
        """CPU % of one core spent by the tree between two samples. Counting the reaped children's time (cutime,
        cstime) keeps the sum steady when a member exits and is reaped inside the tree."""
        return (self.ticks - earlier.ticks) / CLOCK_TICKS / (self.at - earlier.at) * 100


def sample_tree(root: int) -> TreeSample | None:
    """CPU ticks and RSS of root and its descendants; None when root is gone."""
    fields = procfs.stat_fields(root)
    at = time.monotonic()
    if not fields or fields[0] in (b"Z", b"X"):
        return None
    ticks, rss, hwm, size = 0, 0, 0, 0
    for pid in (root, *procfs.descendants(root)):
        member = fields if pid == root else procfs.stat_fields(pid)
        if not member:
            continue  # exited since the walk
        ticks += sum(int(value) for value in member[11:15])
        rss += status_kib(pid, "VmRSS") or 0
        hwm += status_kib(pid, "VmHWM") or 0
        size += 1
    return TreeSample(at, ticks, rss, hwm, size)


# -- one command, timed -------------------------------------------------------------------------------------------

def run_timed(argv: list[str], timeout: float = 120.0) -> tuple[float, float]:
    """Run argv with output to /dev/null; (wall seconds, CPU seconds user+sys from wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)  # our unreaped child leads this group
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise Skip(f"{argv[0]} took more than {timeout:.0f} s")
        time.sleep(0.0005)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise Skip(f"{' '.join(argv)} exited with status {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def peak_rss_kib(argv: list[str], timeout: float = 120.0) -> int | None:
    """Peak RSS of argv via GNU time. (wait4's ru_maxrss is useless here: a child created by vfork/fork of this
    process keeps this interpreter's high-water mark across exec.)"""
    if not Path("/usr/bin/time").exists():
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout, check=False)
        text = out.read().strip()
    return int(text.splitlines()[-1]) if done.returncode == 0 and text else None
