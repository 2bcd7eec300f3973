"""Immutable process records and snapshots. No Textual, no psutil here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

# The refresh intervals `<` and `>` step through; --interval and the config accept anything between the ends.
INTERVAL_STEPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
MIN_INTERVAL, MAX_INTERVAL = INTERVAL_STEPS[0], 3600.0


# Notes a sweep attaches about what it cannot see: codes, put into words at the edge (procwatch.engine.words).
NOTE_FOREIGN_PROC = "foreign-proc"  # /proc is another PID namespace's
NOTE_HIDEPID = "hidepid="  # + the mode: only your own processes are visible

Identity = tuple[int, int]  # (pid, start time in clock ticks since boot): PIDs are reused, this is not.


class ProcInfo(NamedTuple):
    """One process as seen by one sweep. A NamedTuple: cheap to build thousands of times a second."""

    pid: int
    ppid: int
    start_ticks: int  # /proc/PID/stat field 22, clock ticks after boot
    uid: int
    user: str
    state: str  # kernel state letter: R S D T t Z X I (W P K on old kernels)
    nice: int
    threads: int
    session: int
    pgrp: int
    tpgid: int
    tty_nr: int
    locked_kb: int  # VmLck
    exit_code: int  # status a zombie's parent has not collected (stat field 52), else 0; -1: not known (ps)
    rss: int  # bytes
    cpu_ticks: int  # utime + stime
    cpu_percent: float  # since the previous sweep of the same identity
    name: str  # comm
    argv: tuple[str, ...]  # empty for kernel threads and zombies
    kernel_thread: bool
    started: float  # epoch seconds
    vsz: int = 0  # bytes of virtual memory (stat field 23)
    cgroup: str = ""  # /proc/PID/cgroup (see procfs.cgroup_path), read for new and exec'd processes only

    @property
    def identity(self) -> Identity:
        return (self.pid, self.start_ticks)

    @property
    def cmdline(self) -> str:
        """The command line as ps prints it: argv joined by spaces, or [name] when there is none, and
        `[name] <defunct>` for a zombie (brackets alone also mean a kernel thread)."""
        if self.argv:
            return " ".join(self.argv)
        return f"[{self.name}] <defunct>" if self.state == "Z" else f"[{self.name}]"


@dataclass(frozen=True)
class Snapshot:
    """Every process one sweep saw. Treat as read-only."""

    procs: Mapping[int, ProcInfo]
    taken_at: float  # epoch seconds
    sweep_seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())  # NOTE_* codes, e.g. "hidepid=2"

    def __len__(self) -> int:
        return len(self.procs)

    def __iter__(self):
        return iter(self.procs.values())

    def get(self, pid: int) -> ProcInfo | None:
        return self.procs.get(pid)
