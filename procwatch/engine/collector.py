"""Process collection: one sweep returns an immutable Snapshot. No Textual here.

`ProcfsCollector` reads Linux /proc directly (the per-tick hot path: psutil exposes no session, pgrp, tpgid,
VmLck or pending exit code, and costs ~3x more per process). `PsutilCollector` is the portable path.
Both drop processes that vanish mid-read and keep partial records when a file is unreadable.

What a warm `ProcfsCollector` sweep reads, and how stale a value can be:
- /proc/PID/stat of every process, every sweep. When its bytes equal the last sweep's (an idle process), the last
  record is reused as it is: nothing parsed, nothing else read. State, nice, threads, session, pgrp, tpgid, ppid
  and CPU time are therefore always exact as of the sweep. A collector made with `keep_open` (the TUI, --watch)
  keeps these files open and reads them again with pread (procfs.KeptStatFiles: a quarter less sweep time at
  10,000 processes, for ~4.4 KiB of kernel memory per process).
- /proc/PID/status (effective uid, VmLck for the L flag, VmRSS) for new identities, for processes whose stat
  changed, and for a rotating slice of the rest: every process is re-read at least once per `status_max_age`
  (10 s) plus one sweep interval. Only a change that leaves stat untouched (setuid or mlock between two clock
  ticks, pages reclaimed from an idle process) can be shown that late.
- /proc/PID/cmdline for new identities, after an exec (comm changed), and with status on the rotating schedule:
  a command line rewritten in place (postgres, nginx, sshd, setproctitle) shows within status_max_age plus one
  interval. Read whole (no cut: the kernel's limit on arguments is the bound). Never for kernel threads and
  zombies.
"""

from __future__ import annotations

import os
import pwd
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from procwatch.engine import procfs
from procwatch.engine.model import NOTE_FOREIGN_PROC, NOTE_HIDEPID, ProcInfo, Snapshot
from procwatch.engine.procfs import FS_ENCODING, FS_ERRORS, PF_KTHREAD, parse_argv, parse_status


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
                 status_max_age: float = 10.0, clock: Callable[[], float] = time.time,
                 keep_open: bool = False) -> None:
        self.proc = proc
        self.clock = clock
        self.user_names = user_names or UserNames()
        self.clock_ticks = os.sysconf("SC_CLK_TCK")
        self.page_size = os.sysconf("SC_PAGE_SIZE")
        self.boot_time = procfs.boot_time(proc)
        self.status_max_age = status_max_age
        # pid -> (raw stat bytes, record built from them); only pids of the last sweep: dead ones are forgotten.
        self._seen: dict[int, tuple[bytes, ProcInfo]] = {}
        self._slot_position: int | None = None
        self._last_time: float | None = None
        self.notes = visibility_notes(proc)
        self.cgroups = False  # read /proc/PID/cgroup (see enable_cgroups)
        # keep_open: for a collector that sweeps again and again (the TUI, --watch), not for one sweep (--once)
        self._stat_files = procfs.KeptStatFiles(proc) if keep_open else None
        if self._stat_files is not None:
            weakref.finalize(self, self._stat_files.close)

    def enable_cgroups(self) -> None:
        """From the next sweep on, fill ProcInfo.cgroup: every process once (that sweep re-reads everything, as a
        first sweep does), then new and exec'd processes only. Off by default: reading /proc/PID/cgroup costs
        about as much as reading stat, which would double a cold sweep (`--once`) that does not show it."""
        if not self.cgroups:
            self.cgroups = True
            self._slot_position = None  # every slot due: records reused as they are would keep no cgroup

    def pids(self) -> list[int]:
        return procfs.pids(self.proc)

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
        user_names, cgroups = self.user_names, self.cgroups
        read = procfs.read  # looked up per sweep: tests patch it
        get_old = old_seen.get
        make = tuple.__new__
        encoding, errors = FS_ENCODING, FS_ERRORS
        stat_files = self._stat_files
        read_stat = None
        if stat_files is not None:
            stat_files.begin()
            read_stat = stat_files.read
        for pid in self.pids():
            try:
                raw = read_stat(pid) if read_stat is not None else read(f"{proc}/{pid}/stat")
            except OSError:
                continue  # vanished between listing and reading
            last = get_old(pid)
            if last is not None and last[0] == raw and not due[pid & mask]:
                record = last[1]  # nothing changed: same identity (the start time is in the bytes), same values
                if record.cpu_percent:  # no tick spent since the last sweep
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
            previous = last[1] if last is not None and last[1].start_ticks == start_ticks else None  # same identity
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
            argv: tuple[str, ...]
            if kernel_thread or state == "Z" or state == "X":
                argv = ()  # the kernel shows no cmdline for these (as ps: `[name] <defunct>`)
            elif previous is not None and previous.name == name and previous.argv and not due[pid & mask]:
                argv = previous.argv
            else:
                try:
                    argv = parse_argv(read(base + "cmdline", None))
                except OSError:
                    argv = ()  # permission denied (hidepid) or gone: a partial record
            cpu_ticks = int(f[11]) + int(f[12])
            cpu_percent = (cpu_ticks - previous.cpu_ticks) * tick_scale if previous is not None else 0.0
            if previous is not None and previous.uid == uid:
                user = previous.user
            else:
                user = user_names(uid) if uid >= 0 else "?"
            # The cgroup moves only on exec (systemd-run, container runtimes) or by an explicit migration: read it
            # for new and exec'd processes only, and only when asked (it costs as much as the stat read).
            cgroup = ""
            if cgroups:
                cgroup = (previous.cgroup if previous is not None and previous.name == name and previous.cgroup
                          else procfs.read_cgroup(pid, proc))
                if state == "Z" and cgroup in ("", "/"):  # the kernel detached it: it belongs where its parent is
                    parent = procs.get(int(f[1]))
                    cgroup = parent.cgroup if parent is not None else cgroup
            record = make(ProcInfo, (
                pid, int(f[1]), start_ticks, uid, user, state, int(f[16]), int(f[17]), int(f[3]), int(f[2]),
                int(f[5]), int(f[4]), locked_kb, exit_code,
                rss_kb * 1024 if rss_kb is not None else int(f[21]) * page_size, cpu_ticks, cpu_percent, name,
                argv, kernel_thread, boot_time + start_ticks / clock_ticks, int(f[20]), cgroup,
            ))
            procs[pid] = record
            seen[pid] = (raw, record)
        self._seen = seen  # dead identities are forgotten here
        if stat_files is not None:
            stat_files.end()
        return Snapshot(procs=procs, taken_at=now, sweep_seconds=time.monotonic() - started, notes=self.notes)


def visibility_notes(proc: str = "/proc") -> tuple[str, ...]:
    notes = []
    mode = procfs.hidepid_mode() if proc == "/proc" else None
    if mode and os.geteuid() != 0:
        notes.append(NOTE_HIDEPID + mode)
    if not procfs.proc_is_ours(proc):
        notes.append(NOTE_FOREIGN_PROC)
    return tuple(notes)
