"""Process collection: one sweep returns an immutable Snapshot. No Textual here.

`ProcfsCollector` reads Linux /proc directly (the per-tick hot path: psutil exposes no session, pgrp, tpgid,
VmLck or pending exit code, and costs ~3x more per process). `PsutilCollector` is the portable path.
Both drop processes that vanish mid-read and keep partial records when a file is unreadable.

What a warm `ProcfsCollector` sweep reads, and how stale a value can be:
- /proc/PID/stat of every process, every sweep. When its bytes equal the last sweep's (an idle process), the last
  record is reused as it is: nothing parsed, nothing else read. State, nice, threads, session, pgrp, tpgid, ppid
  and CPU time are therefore always exact as of the sweep.
- /proc/PID/status (effective uid, VmLck for the L flag, VmRSS) for new identities, for processes whose stat
  changed, and for a rotating slice of the rest: every process is re-read at least once per `status_max_age`
  (10 s) plus one sweep interval. Only a change that leaves stat untouched (setuid or mlock between two clock
  ticks, pages reclaimed from an idle process) can be shown that late.
- /proc/PID/cmdline for new identities and after an exec (comm changed); never for kernel threads and zombies.
"""

from __future__ import annotations

import os
import pwd
import sys
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


_open, _read_fd, _close = os.open, os.read, os.close
_O_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()  # what os.fsdecode uses


def _read(path: str, limit: int = 1 << 20) -> bytes:
    fd = _open(path, _O_FLAGS)
    try:
        chunk = _read_fd(fd, 8192)
        if len(chunk) < 8192:
            return chunk
        parts = [chunk]
        size = len(chunk)
        while size < limit:
            chunk = _read_fd(fd, 65536)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)
    finally:
        _close(fd)


def parse_argv(raw: bytes) -> tuple[str, ...]:
    """/proc/PID/cmdline -> argv. Undecodable bytes survive as surrogates (os.fsencode gives them back)."""
    if not raw:
        return ()
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    # One decode for the whole buffer: NUL is one byte in the file system encoding and never part of a longer
    # sequence, so this equals decoding each argument (surrogates included) and is several times cheaper.
    return tuple(raw.decode(_FS_ENCODING, _FS_ERRORS).split("\0"))


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
    """Reads /proc/PID/{stat,status,cmdline}, and only what changed.

    Per pid it keeps the raw bytes of the last /proc/PID/stat and the record built from them. Every sweep reads
    stat (the kernel shows CPU time, state, threads, nice... there); when the bytes are those of the last sweep, the
    record is reused as it is (its cpu_percent is 0: no tick was spent), with nothing parsed and nothing else read.
    When stat changed, or the identity is new, stat is parsed and status is read again (effective uid, VmLck for
    the L flag, VmRSS); cmdline is read for new identities and again when comm changes (exec keeps pid and start
    time but changes both).

    Staleness bound: uid, VmLck and VmRSS can change without stat changing (setuid or mlock between two clock
    ticks, pages reclaimed from an idle process). So status is also re-read on a rotating schedule: the pids are
    spread over `SLOTS` slots (pid % SLOTS) and every slot comes due once per `status_max_age` seconds, so these
    three values are never older than status_max_age (10 s) plus one sweep interval. Everything else in a record
    is exact as of the sweep. At a 1 s refresh this re-reads about a tenth of the processes per sweep.
    """

    SLOTS = 64  # a power of two: pid & (SLOTS - 1)

    def __init__(self, proc: str = "/proc", user_names: Callable[[int], str] | None = None,
                 status_max_age: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self.proc = proc
        self.clock = clock
        self.user_names = user_names or UserNames()
        self.clock_ticks = os.sysconf("SC_CLK_TCK")
        self.page_size = os.sysconf("SC_PAGE_SIZE")
        self.boot_time = self._boot_time()
        self.status_max_age = status_max_age
        # pid -> (raw stat bytes, record built from them); only pids of the last sweep: dead ones are forgotten.
        self._seen: dict[int, tuple[bytes, ProcInfo]] = {}
        self._slot_position: int | None = None
        self._last_time: float | None = None
        self.notes = visibility_notes(proc)

    def _boot_time(self) -> float:
        for line in _read(f"{self.proc}/stat").splitlines():
            if line.startswith(b"btime "):
                return float(line.split()[1])
        return 0.0

    def pids(self) -> list[int]:
        return [int(name) for name in os.listdir(self.proc) if name.isdigit()]

    def _due_slots(self, now: float) -> bytearray:
        """Slots whose status is due this sweep: those the clock passed since the last sweep."""
        slots = self.SLOTS
        position = int(now * slots / self.status_max_age) if self.status_max_age > 0 else 0
        previous, self._slot_position = self._slot_position, position
        if previous is None or self.status_max_age <= 0 or position - previous >= slots or position < previous:
            return bytearray(b"\1" * slots)  # first sweep (all new anyway), a long pause, or the clock went back
        due = bytearray(slots)
        for k in range(previous + 1, position + 1):
            due[k & (slots - 1)] = 1
        return due

    def sweep(self) -> Snapshot:
        started = time.monotonic()
        now = self.clock()
        interval = (now - self._last_time) if self._last_time else 0.0
        self._last_time = now
        tick_scale = 100.0 / (interval * self.clock_ticks) if interval > 0 else 0.0
        due = self._due_slots(now)
        mask = self.SLOTS - 1
        old_seen, seen = self._seen, {}
        procs: dict[int, ProcInfo] = {}
        proc, page_size, clock_ticks, boot_time = self.proc, self.page_size, self.clock_ticks, self.boot_time
        user_names = self.user_names
        read = _read  # looked up per sweep: tests patch it
        get_old = old_seen.get
        make = tuple.__new__
        encoding, errors = _FS_ENCODING, _FS_ERRORS
        for pid in self.pids():
            try:
                raw = read(f"{proc}/{pid}/stat")
            except OSError:
                continue  # vanished between listing and reading
            last = get_old(pid)
            if last is not None and last[0] == raw and not due[pid & mask]:
                record = last[1]  # nothing changed: same identity (the start time is in the bytes), same values
                if record[16]:  # cpu_percent: no tick spent since the last sweep
                    record = record._replace(cpu_percent=0.0)
                    last = (raw, record)
                procs[pid] = record
                seen[pid] = last
                continue
            try:
                close_paren = raw.rindex(b")")  # the name may contain spaces and ')': fields follow the last one
                name = raw[raw.index(b"(") + 1 : close_paren].decode(encoding, errors)  # as os.fsdecode
                # Fields 3..24 split apart; the rest (up to exit_code, field 52, the last one on Linux >= 3.5)
                # stays in f[22]: splitting only what is used halves the cost.
                f = raw[close_paren + 2 :].split(None, 22)
                start_ticks = int(f[19])
                rest = f[22] if len(f) > 22 else b""
                spaces = rest.count(b" ")  # field 52 is the 28th in rest: its last when there are 27 spaces
                exit_code = (int(rest[rest.rindex(b" ") + 1 :]) if spaces == 27 else
                             int(rest.split()[27]) if spaces > 27 else 0)
            except (ValueError, IndexError):
                continue
            previous = last[1] if last is not None and last[1][2] == start_ticks else None  # same identity
            base = f"{proc}/{pid}/"
            try:
                uid, locked_kb, rss_kb = parse_status(read(base + "status"))
            except (OSError, ValueError, IndexError):
                uid, locked_kb, rss_kb = -1, 0, None
                try:
                    uid = os.stat(base).st_uid
                except OSError:
                    continue
            state = f[0].decode()
            flags = int(f[6])
            kernel_thread = bool(flags & PF_KTHREAD)
            if kernel_thread or state == "Z" or state == "X":
                argv = ()  # the kernel shows no cmdline for these (as ps: `[name] <defunct>`)
            elif previous is not None and previous[17] == name and previous[18]:
                argv = previous[18]
            else:
                try:
                    argv = parse_argv(read(base + "cmdline"))
                except OSError:
                    argv = ()  # permission denied (hidepid) or gone: a partial record
            cpu_ticks = int(f[11]) + int(f[12])
            cpu_percent = (cpu_ticks - previous[15]) * tick_scale if previous is not None else 0.0
            if previous is not None and previous[3] == uid:
                user = previous[4]
            else:
                user = user_names(uid) if uid >= 0 else "?"
            record = make(ProcInfo, (
                pid, int(f[1]), start_ticks, uid, user, state, int(f[16]), int(f[17]), int(f[3]), int(f[2]),
                int(f[5]), int(f[4]), locked_kb, exit_code,
                rss_kb * 1024 if rss_kb is not None else int(f[21]) * page_size, cpu_ticks, cpu_percent, name,
                argv, kernel_thread, boot_time + start_ticks / clock_ticks,
            ))
            procs[pid] = record
            seen[pid] = (raw, record)
        self._seen = seen  # dead identities are forgotten here
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
