"""Choosing a collector, and the portable one through psutil (not standard library, hence not in the engine).

psutil has no session/pgrp/tpgid/VmLck/exit code: os.getsid/getpgid fill what they can."""

from __future__ import annotations

import os
import time

from procwatch.engine.collector import Collector, ProcfsCollector
from procwatch.engine.model import Identity, ProcInfo, Snapshot


class PsutilCollector:
    """The portable path. psutil has no session/pgrp/tpgid/VmLck/exit code: os.getsid/getpgid fill what they can."""

    ATTRS = ["pid", "ppid", "create_time", "uids", "username", "status", "nice", "num_threads", "terminal",
             "memory_info", "cpu_times", "name", "cmdline"]

    def __init__(self) -> None:
        import psutil

        self.psutil = psutil
        self._ticks: dict[Identity, float] = {}
        self._last_time: float | None = None
        self._status_letters = {
            psutil.STATUS_RUNNING: "R", psutil.STATUS_SLEEPING: "S", psutil.STATUS_DISK_SLEEP: "D",
            psutil.STATUS_STOPPED: "T", psutil.STATUS_TRACING_STOP: "t", psutil.STATUS_ZOMBIE: "Z",
            psutil.STATUS_DEAD: "X", getattr(psutil, "STATUS_IDLE", "idle"): "I",
            getattr(psutil, "STATUS_PARKED", "parked"): "P", getattr(psutil, "STATUS_WAKING", "waking"): "W",
        }

    def sweep(self) -> Snapshot:
        started = time.monotonic()
        now = time.time()
        interval = (now - self._last_time) if self._last_time else 0.0
        self._last_time = now
        old_ticks, new_ticks = self._ticks, {}
        procs: dict[int, ProcInfo] = {}
        for p in self.psutil.process_iter(self.ATTRS):
            info = p.info
            if info["create_time"] is None or info["ppid"] is None:
                continue
            pid = info["pid"]
            start_ticks = round(info["create_time"] * 100)  # an identity key, not kernel ticks
            times = info["cpu_times"]
            cpu_seconds = (times.user + times.system) if times else 0.0
            identity = (pid, start_ticks)
            new_ticks[identity] = cpu_seconds
            previous = old_ticks.get(identity)
            cpu_percent = (cpu_seconds - previous) * 100 / interval if previous is not None and interval else 0.0
            session = pgrp = -1
            try:
                session, pgrp = os.getsid(pid), os.getpgid(pid)
            except OSError:
                pass
            uids = info["uids"]
            argv = tuple(info["cmdline"] or ())
            memory = info["memory_info"]
            procs[pid] = ProcInfo(
                pid=pid, ppid=info["ppid"], start_ticks=start_ticks,
                uid=uids.effective if uids else -1, user=info["username"] or "?",
                state=self._status_letters.get(info["status"], "?"), nice=info["nice"] or 0,
                threads=info["num_threads"] or 1, session=session, pgrp=pgrp, tpgid=-1, tty_nr=0,
                locked_kb=0, exit_code=0, rss=memory.rss if memory else 0, cpu_ticks=int(cpu_seconds * 100),
                cpu_percent=cpu_percent, name=info["name"] or "", argv=argv,
                kernel_thread=not argv and pgrp == 0, started=info["create_time"], vsz=memory.vms if memory else 0,
            )
        self._ticks = new_ticks
        return Snapshot(procs=procs, taken_at=now, sweep_seconds=time.monotonic() - started)


def make_collector(proc: str = "/proc", cgroups: bool = False, repeated: bool = False) -> Collector:
    """The /proc reader where there is a /proc (the hot path), psutil elsewhere. `proc`: another procfs to read
    (--procfs: a host's /proc mounted in a container); `cgroups`: fill ProcInfo.cgroup from the first sweep;
    `repeated`: it will sweep again and again (the TUI, --watch), so it keeps the stat files open."""
    if proc != "/proc" or os.path.exists("/proc/self/stat"):
        collector = ProcfsCollector(proc, keep_open=repeated)
        if cgroups:
            collector.enable_cgroups()
        return collector
    return PsutilCollector()
