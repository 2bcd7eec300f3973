"""Process collection: one sweep returns an immutable Snapshot. No Textual here.

`ProcfsCollector` reads Linux /proc directly (the per-tick hot path: psutil exposes no session, pgrp, tpgid,
VmLck or pending exit code, and costs ~3x more per process). `PsutilCollector` is the portable path.
Both drop processes that vanish mid-read and keep partial records when a file is unreadable.
"""

from __future__ import annotations

import os
import pwd
import time
from typing import Callable, Protocol

from procwatch.model import Identity, ProcInfo, Snapshot

PF_KTHREAD = 0x00200000  # task flag of kernel threads (include/linux/sched.h)


class Collector(Protocol):
    def sweep(self) -> Snapshot: ...


class UserNames:
    """uid -> user name, numeric when the name is unknown. Cached: getpwuid costs a file read."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    def __call__(self, uid: int) -> str:
        name = self._names.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except (KeyError, OverflowError):
                name = str(uid)
            self._names[uid] = name
        return name


def _read(path: str, limit: int = 1 << 20) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunk = os.read(fd, 8192)
        if len(chunk) < 8192:
            return chunk
        parts = [chunk]
        size = len(chunk)
        while size < limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def parse_argv(raw: bytes) -> tuple[str, ...]:
    """/proc/PID/cmdline -> argv. Undecodable bytes survive as surrogates (os.fsencode gives them back)."""
    if not raw:
        return ()
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    return tuple(os.fsdecode(arg) for arg in raw.split(b"\0"))


def parse_stat(raw: bytes) -> tuple[str, list[bytes]]:
    """Split /proc/PID/stat into (comm, fields from field 3 on). The name may contain spaces and ')':
    everything between the first '(' and the *last* ')' is the name."""
    open_paren = raw.index(b"(")
    close_paren = raw.rindex(b")")
    return os.fsdecode(raw[open_paren + 1 : close_paren]), raw[close_paren + 2 :].split()


def parse_status(raw: bytes) -> tuple[int, int, int | None]:
    """(effective uid, VmLck in kB, VmRSS in kB) from /proc/PID/status. VmLck and VmRSS are absent for kernel
    threads and zombies (VmRSS is then None). VmRSS is exact, as ps and top show it; stat field 24 is the kernel's
    per-CPU approximation and can be off by hundreds of kB."""
    uid = locked = 0
    rss = None
    start = raw.find(b"\nUid:")
    if start >= 0:
        uid = int(raw[start + 5 : raw.index(b"\n", start + 5)].split()[1])
    start = raw.find(b"\nVmLck:")
    if start >= 0:
        locked = int(raw[start + 7 : raw.index(b"\n", start + 7)].split()[0])
    start = raw.find(b"\nVmRSS:")
    if start >= 0:
        rss = int(raw[start + 7 : raw.index(b"\n", start + 7)].split()[0])
    return uid, locked, rss


class ProcfsCollector:
    """Reads /proc/PID/{stat,status,cmdline}. cmdline is cached per identity and re-read when comm changes
    (exec keeps pid and start time but changes both)."""

    def __init__(self, proc: str = "/proc", user_names: Callable[[int], str] | None = None) -> None:
        self.proc = proc
        self.user_names = user_names or UserNames()
        self.clock_ticks = os.sysconf("SC_CLK_TCK")
        self.page_size = os.sysconf("SC_PAGE_SIZE")
        self.boot_time = self._boot_time()
        self._argv: dict[Identity, tuple[str, tuple[str, ...]]] = {}  # identity -> (comm, argv)
        self._ticks: dict[Identity, int] = {}
        self._last_time: float | None = None
        self.notes = visibility_notes(proc)

    def _boot_time(self) -> float:
        for line in _read(f"{self.proc}/stat").splitlines():
            if line.startswith(b"btime "):
                return float(line.split()[1])
        return 0.0

    def pids(self) -> list[int]:
        return [int(name) for name in os.listdir(self.proc) if name.isdigit()]

    def sweep(self) -> Snapshot:
        started = time.monotonic()
        now = time.time()
        interval = (now - self._last_time) if self._last_time else 0.0
        self._last_time = now
        tick_scale = 100.0 / (interval * self.clock_ticks) if interval > 0 else 0.0
        old_ticks, new_ticks = self._ticks, {}
        old_argv, new_argv = self._argv, {}
        procs: dict[int, ProcInfo] = {}
        proc, page_size, clock_ticks, boot_time = self.proc, self.page_size, self.clock_ticks, self.boot_time
        user_names = self.user_names
        for pid in self.pids():
            base = f"{proc}/{pid}/"
            try:
                name, f = parse_stat(_read(base + "stat"))
            except (OSError, ValueError):
                continue  # vanished between listing and reading
            start_ticks = int(f[19])
            identity = (pid, start_ticks)
            kernel_thread = bool(int(f[6]) & PF_KTHREAD)
            try:
                uid, locked_kb, rss_kb = parse_status(_read(base + "status"))
            except (OSError, ValueError, IndexError):
                uid, locked_kb, rss_kb = -1, 0, None
                try:
                    uid = os.stat(base).st_uid
                except OSError:
                    continue
            state = f[0].decode()
            cached = old_argv.get(identity)
            if kernel_thread or state in ("Z", "X"):
                argv = ()  # the kernel shows no cmdline for these (as ps: `[name] <defunct>`)
            elif cached is not None and cached[0] == name and cached[1]:
                argv = cached[1]
            else:
                try:
                    argv = parse_argv(_read(base + "cmdline"))
                except OSError:
                    argv = ()  # permission denied (hidepid) or gone: a partial record
            new_argv[identity] = (name, argv)
            cpu_ticks = int(f[11]) + int(f[12])
            new_ticks[identity] = cpu_ticks
            previous = old_ticks.get(identity)
            cpu_percent = (cpu_ticks - previous) * tick_scale if previous is not None else 0.0
            procs[pid] = ProcInfo(
                pid=pid,
                ppid=int(f[1]),
                start_ticks=start_ticks,
                uid=uid,
                user=user_names(uid) if uid >= 0 else "?",
                state=state,
                nice=int(f[16]),
                threads=int(f[17]),
                session=int(f[3]),
                pgrp=int(f[2]),
                tpgid=int(f[5]),
                tty_nr=int(f[4]),
                locked_kb=locked_kb,
                exit_code=int(f[49]) if len(f) > 49 else 0,
                rss=rss_kb * 1024 if rss_kb is not None else int(f[21]) * page_size,
                cpu_ticks=cpu_ticks,
                cpu_percent=cpu_percent,
                name=name,
                argv=argv,
                kernel_thread=kernel_thread,
                started=boot_time + start_ticks / clock_ticks,
            )
        self._ticks, self._argv = new_ticks, new_argv  # dead identities are forgotten here
        return Snapshot(procs=procs, taken_at=now, sweep_seconds=time.monotonic() - started, notes=self.notes)


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
            start_ticks = int(round(info["create_time"] * 100))  # an identity key, not kernel ticks
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
                kernel_thread=not argv and pgrp == 0, started=info["create_time"],
            )
        self._ticks = new_ticks
        return Snapshot(procs=procs, taken_at=now, sweep_seconds=time.monotonic() - started)


def hidepid_mode(mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The hidepid= option /proc is mounted with (None when every process is visible)."""
    try:
        with open(mountinfo, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 4 and fields[4] == "/proc":
            for option in line.split(" - ", 1)[-1].split()[-1].split(","):
                if option.startswith("hidepid=") and option not in ("hidepid=0", "hidepid=off"):
                    return option.split("=", 1)[1]
    return None


def visibility_notes(proc: str = "/proc") -> tuple[str, ...]:
    mode = hidepid_mode() if proc == "/proc" else None
    if mode and os.geteuid() != 0:
        return (f"/proc is mounted hidepid={mode}: only your own processes are visible",)
    return ()


def make_collector() -> Collector:
    if os.path.exists("/proc/self/stat"):
        return ProcfsCollector()
    return PsutilCollector()
