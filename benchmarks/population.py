"""About N processes on the machine for a while: idle ones are added (benchmarks/idle_procs.py) and always removed.

    prepare()                               # once: cleanup handlers, child subreaper
    problem = size_problem(n, machine_limits())
    with Population(n, log) as population:  # population.procs: processes actually running
        ...
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable

import idle_procs

from procwatch.engine import procfs


def prepare() -> None:
    """Close every idle group at exit or on SIGTERM/SIGHUP; adopt orphans (of tmux & co.) to reap them."""
    idle_procs.install_cleanup_handlers()
    idle_procs.become_subreaper()


def count() -> int:
    return len(procfs.pids())


def machine_limits() -> dict[str, int]:
    def read_int(path: str) -> int:
        try:
            return int(procfs.read(path).split()[0])
        except (OSError, ValueError, IndexError):
            return 1 << 30

    mem_available = 0
    for line in procfs.read("/proc/meminfo").splitlines():
        if line.startswith(b"MemAvailable:"):
            mem_available = int(line.split()[1])
    nproc_soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    return {"pid_max": read_int("/proc/sys/kernel/pid_max"), "threads_max": read_int("/proc/sys/kernel/threads-max"),
            "nproc": nproc_soft if nproc_soft != resource.RLIM_INFINITY else 1 << 30,
            "mem_available_kib": mem_available, "cpus": os.cpu_count() or 1}


def size_problem(n: int, limits: dict[str, int]) -> str | None:
    """Why n processes cannot be made here (None when they can)."""
    running = count()
    if n + 1000 > min(limits["pid_max"], limits["threads_max"], limits["nproc"]):
        return (f"{n:,} processes do not fit under pid_max {limits['pid_max']}, threads-max {limits['threads_max']}"
                f" or ulimit -u {limits['nproc']} with a margin of 1,000")
    if (n - running) * 400 > limits["mem_available_kib"] // 2:  # ~0.3 MiB each, measured; keep half the memory
        return f"{n:,} idle processes need ~{(n - running) * 0.4 / 1024:.1f} GiB, more than half the free memory"
    return None


def loadavg() -> str:
    return " ".join(procfs.read("/proc/loadavg").decode().split()[:3])


class Population:
    """Idle processes until about n run (none when n already do), in one process group, killed and reaped on
    exit (also on an exception or Ctrl-C)."""

    def __init__(self, n: int, log: Callable[[str], None], settle: float = 1.0) -> None:
        self.n, self.log, self.settle = n, log, settle
        self.group: idle_procs.IdleProcs | None = None
        self.procs = 0

    def __enter__(self) -> Population:
        extra = self.n - count()
        if extra > 0:
            self.group = idle_procs.IdleProcs(extra, lifetime=3600)
            self.group.start()  # cleans up after itself when it fails
            self.log(f"N={self.n:,}: started {extra:,} idle processes in {self.group.start_seconds:.1f} s "
                     f"(group {self.group.pgid})")
        try:
            time.sleep(self.settle)  # let the forks settle
        except BaseException:
            self.__exit__()
            raise
        self.procs = count()
        return self

    def __exit__(self, *exc) -> None:
        if self.group is not None:
            self.group.close()
            self.group = None
