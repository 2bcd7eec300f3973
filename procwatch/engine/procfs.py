"""The one place that reads and splits Linux /proc files, and the one identity-checked way to signal a process.

Everything else (the collector's hot loop, the sandbox, tests, benchmarks) asks this module. Standard library only.
Field numbers follow proc(5): `stat_fields(...)[i]` is field i + 3 (state is [0], ppid [1], start time [19]).
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time
from typing import NamedTuple

from procwatch.engine.model import Identity

PROC = "/proc"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of start times and CPU times in /proc/PID/stat
PF_KTHREAD = 0x00200000  # task flag of kernel threads (include/linux/sched.h)

_open, _read_fd, _pread, _close = os.open, os.read, os.pread, os.close
_O_FLAGS = os.O_RDONLY | os.O_CLOEXEC
FS_ENCODING, FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()  # what os.fsdecode uses


def read(path: str, limit: int | None = 1 << 20, dir_fd: int | None = None) -> bytes:
    """The bytes of a /proc file, in as few reads as it takes (most fit in one), up to `limit` bytes (None: all
    of it; for cmdline the kernel's own limit on arguments is the bound). Raises OSError."""
    fd = _open(path, _O_FLAGS, dir_fd=dir_fd) if dir_fd is not None else _open(path, _O_FLAGS)
    try:
        chunk = _read_fd(fd, 8192)
        if len(chunk) < 8192:
            return chunk
        parts = [chunk]
        size = len(chunk)
        while limit is None or size < limit:
            chunk = _read_fd(fd, 65536)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)
    finally:
        _close(fd)


class KeptStatFiles:
    """/proc/PID/stat descriptors kept open from one sweep to the next and read again with pread.

    Why: at 10,000 processes, opening /proc/PID/stat (a path walk and a new file each time) costs about twice
    the read itself; a kept descriptor is re-read from offset 0, which makes the kernel generate the line anew.
    The price is kernel memory: about 4.4 KiB per descriptor (the file and its seq_file page), so 44 MiB at
    10,000 processes; `budget` bounds it, and the pids beyond it are read the plain way (open, read, close).
    The kept descriptors are numbered from FLOOR up (FD_SETSIZE): below it the numbers stay free for the rest of
    the program, since select() (Textual's input thread, libraries, tests) refuses a descriptor of 1024 or more.
    A descriptor belongs to one process, not to a pid: once that process is reaped the read fails (ESRCH), and
    a new process that got the pid is opened afresh. Use: `begin()`, `read(pid)` per listed pid, `end()`.
    """

    KEEP_MAX = 16384  # descriptors at most, whatever the limit allows (~70 MiB of kernel memory)
    FLOOR = 1024  # the lowest number a kept descriptor takes: those below are left to everything else

    def __init__(self, proc: str = PROC, budget: int | None = None) -> None:
        self.proc = proc
        self.budget = self.raise_limit() if budget is None else budget
        self._fds: dict[int, int] = {}  # pid -> descriptor, as of the last sweep
        self._old: dict[int, int] = {}

    @classmethod
    def raise_limit(cls) -> int:
        """Descriptors this process may keep: the soft RLIMIT_NOFILE raised toward the hard one (as far as
        KEEP_MAX needs), less the FLOOR below them; 0 when the limit is too low to keep any."""
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = cls.FLOOR + cls.KEEP_MAX
        if soft != resource.RLIM_INFINITY and soft < wanted and (hard == resource.RLIM_INFINITY or soft < hard):
            new_soft = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
                soft = new_soft
            except (OSError, ValueError):
                pass
        if soft == resource.RLIM_INFINITY:
            soft = wanted
        return max(0, min(cls.KEEP_MAX, soft - cls.FLOOR))

    def __len__(self) -> int:
        return len(self._fds)

    def begin(self) -> None:
        self.end()  # a sweep that ended early (an exception) left some behind
        self._old, self._fds = self._fds, {}

    def read(self, pid: int) -> bytes:
        """The stat line of `pid` now. Raises OSError when the process is gone."""
        fd = self._old.pop(pid, None)
        if fd is not None:
            try:
                raw = _pread(fd, 4096, 0)  # one line: a 15-byte comm and 50 numbers
                if raw:
                    self._fds[pid] = fd
                    return raw
            except OSError:
                pass  # the process it was opened for is gone; the pid may be another one's now
            _close(fd)
        path = f"{self.proc}/{pid}/stat"
        if len(self._fds) + len(self._old) >= self.budget:
            return read(path)
        opened = _open(path, _O_FLAGS)
        try:
            raw = _pread(opened, 4096, 0)
            try:
                fd = fcntl.fcntl(opened, fcntl.F_DUPFD_CLOEXEC, self.FLOOR)  # above FD_SETSIZE (see the class)
            except OSError:
                return raw  # no free number above the floor after all: read, not kept
        finally:
            _close(opened)
        self._fds[pid] = fd
        return raw

    def end(self) -> None:
        """Close the descriptors of pids the sweep did not list (their processes are gone)."""
        for fd in self._old.values():
            _close(fd)
        self._old = {}

    def close(self) -> None:
        self.end()
        for fd in self._fds.values():
            _close(fd)
        self._fds = {}


def split_stat(raw: bytes) -> tuple[str, list[bytes]]:
    """Split /proc/PID/stat into (comm, fields from field 3 on). The name may contain spaces and ')':
    everything between the first '(' and the *last* ')' is the name. Raises ValueError on a malformed line."""
    open_paren = raw.index(b"(")
    close_paren = raw.rindex(b")")
    return raw[open_paren + 1 : close_paren].decode(FS_ENCODING, FS_ERRORS), raw[close_paren + 2 :].split()


def stat_fields(pid: int | str, proc: str = PROC, dir_fd: int | None = None) -> list[bytes] | None:
    """Fields of /proc/PID/stat from field 3 on, or None when the process is gone or the file is unreadable."""
    try:
        raw = read("stat", dir_fd=dir_fd) if dir_fd is not None else read(f"{proc}/{pid}/stat")
        return split_stat(raw)[1]
    except (OSError, ValueError):
        return None


def start_ticks(pid: int | str, proc: str = PROC, dir_fd: int | None = None) -> int | None:
    """Start time in clock ticks after boot (stat field 22): with the pid, a process's identity."""
    fields = stat_fields(pid, proc, dir_fd)
    try:
        return int(fields[19]) if fields else None
    except (ValueError, IndexError):
        return None


def identity_of(pid: int, proc: str = PROC) -> Identity | None:
    ticks = start_ticks(pid, proc)
    return None if ticks is None else (pid, ticks)


class StatFacts(NamedTuple):
    """What `ps -o stat` is made of, for one process (the same field names as ProcInfo: stat.format_stat takes both)."""

    pid: int
    ppid: int
    state: str
    nice: int
    locked_kb: int
    session: int
    threads: int
    pgrp: int
    tpgid: int


def stat_facts(pid: int, proc: str = PROC) -> StatFacts | None:
    """The STAT ingredients of one process from stat and status, or None when it is gone."""
    fields = stat_fields(pid, proc)
    if not fields:
        return None
    try:
        locked_kb = parse_status(read(f"{proc}/{pid}/status"))[1]
    except (OSError, ValueError, IndexError):
        locked_kb = 0
    return StatFacts(pid, int(fields[1]), fields[0].decode(), int(fields[16]), locked_kb, int(fields[3]),
                     int(fields[17]), int(fields[2]), int(fields[5]))


def parse_argv(raw: bytes) -> tuple[str, ...]:
    """/proc/PID/cmdline -> argv. Undecodable bytes survive as surrogates (os.fsencode gives them back)."""
    if not raw:
        return ()
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    # One decode for the whole buffer: NUL is one byte in the file system encoding and never part of a longer
    # sequence, so this equals decoding each argument (surrogates included) and is several times cheaper.
    return tuple(raw.decode(FS_ENCODING, FS_ERRORS).split("\0"))


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


def pids(proc: str = PROC) -> list[int]:
    return [int(name) for name in os.listdir(proc) if name.isdigit()]


def boot_time(proc: str = PROC) -> float:
    """Epoch seconds of boot: btime in /proc/stat, or from CLOCK_BOOTTIME where /proc/stat is not there
    (/proc mounted subset=pid, systemd's ProcSubset=pid) or has no btime line."""
    try:
        for line in read(f"{proc}/stat").splitlines():
            if line.startswith(b"btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def children_map(proc: str = PROC) -> dict[int, list[int]]:
    """ppid -> [pid] over every visible process (a fresh read of each stat)."""
    kids: dict[int, list[int]] = {}
    for pid in pids(proc):
        fields = stat_fields(pid, proc)
        if fields:
            kids.setdefault(int(fields[1]), []).append(pid)
    return kids


def descendants(root: int, proc: str = PROC) -> list[int]:
    """Every live descendant of root, from one walk of /proc."""
    kids = children_map(proc)
    out: list[int] = []
    todo = list(kids.get(root, ()))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def read_wchan(pid: int, proc: str = PROC) -> str:
    """The kernel function a sleeping process waits in ('' when unknown or hidden)."""
    try:
        value = read(f"{proc}/{pid}/wchan", limit=256).decode(errors="replace")
    except OSError:
        return ""
    return "" if value in ("0", "") else value


def read_schedstat(pid: int, proc: str = PROC) -> tuple[int, int] | None:
    """(ns on a CPU, ns waiting in a run queue) since the process started: how an R process splits between the
    five-state model's running and ready. None when unknown (no schedstats in this kernel, or gone)."""
    try:
        fields = read(f"{proc}/{pid}/schedstat", limit=256).split()
        return int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        return None


def last_ran_ms(pid: int | str, proc: str = PROC) -> float | None:
    """When the task last ran on a CPU, on the scheduler's clock in milliseconds (`se.exec_start` of
    /proc/PID/sched; None where the kernel has no such file, without CONFIG_SCHED_DEBUG). A task in S, D, T or Z
    has not run since it entered that state: our own value minus its value is how long it has been there."""
    try:
        raw = read(f"{proc}/{pid}/sched", limit=8192)
    except OSError:
        return None
    start = raw.find(b"\nse.exec_start")
    if start < 0:
        return None
    try:
        return float(raw[raw.index(b":", start) + 1 : raw.index(b"\n", start + 1)])
    except ValueError:
        return None


def read_cgroup(pid: int | str, proc: str = PROC) -> str:
    """The process's cgroup: the unified (v2) path when it is not the root, else the first non-root v1 path
    (hybrid hierarchies), else "/"; "" when unreadable."""
    try:
        raw = read(f"{proc}/{pid}/cgroup").decode(FS_ENCODING, FS_ERRORS)
    except OSError:
        return ""
    return cgroup_path(raw)


def cgroup_path(text: str) -> str:
    v1 = ""
    for line in text.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and not controllers:
            if path not in ("", "/"):
                return path
        elif not v1 and path not in ("", "/"):
            v1 = path
    return v1 or ("/" if text else "")


def hidepid_mode(mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The hidepid= option /proc is mounted with (None when every process is visible)."""
    try:
        lines = read(mountinfo).decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 4 and fields[4] == "/proc":
            for option in line.split(" - ", 1)[-1].split()[-1].split(","):
                if option.startswith("hidepid=") and option not in ("hidepid=0", "hidepid=off"):
                    return option.split("=", 1)[1]
    return None


def proc_is_ours(proc: str = PROC) -> bool:
    """Whether this /proc shows our own PID namespace. Under `unshare -p -f` without a new /proc mount it shows the
    parent namespace's processes, whose pids are not ours: /proc/self then names another pid."""
    try:
        return os.readlink(f"{proc}/self") == str(os.getpid())
    except OSError:
        return False


def pidfd_pid(pidfd: int, proc: str = PROC) -> int | None:
    """The pid a pidfd refers to, as this /proc numbers it (`Pid:` in its fdinfo; -1 once the process exited),
    or None where the kernel does not say (before Linux 5.10)."""
    try:
        info = read(f"{proc}/self/fdinfo/{pidfd}")
    except OSError:
        return None
    start = info.find(b"\nPid:")
    if start < 0:
        return None
    return int(info[start + 5 : info.index(b"\n", start + 5)])


# ---------------------------------------------------------------- signals


class SignalRefused(Exception):
    """Nothing was sent. `reason` is one of REASONS; the words are made by procwatch.engine.words.
    "unproven": /proc does not number processes as our PID namespace does, so the identity cannot be checked."""

    REASONS = ("gone", "reused", "denied", "unopenable", "unproven")

    def __init__(self, reason: str, pid: int, detail: str = "") -> None:
        super().__init__(reason, pid, detail)
        self.reason, self.pid, self.detail = reason, pid, detail


def signal_process(identity: Identity, signo: int, proc: str = PROC) -> None:
    """Send signo to the process with this identity, or raise SignalRefused.

    A pidfd pins the process first: while it is held the PID cannot be reused, so the start-time check and the
    signal cannot straddle a reuse. The pidfd's own fdinfo then proves that /proc/PID is that same process (pidfd_open
    resolves pids in our PID namespace; a /proc from another namespace would show someone else)."""
    pid, expected = identity
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise SignalRefused("gone", pid) from None
    except OSError as error:
        raise SignalRefused("unopenable", pid, error.strerror or str(error)) from None
    try:
        seen_as = pidfd_pid(pidfd, proc)
        if seen_as == -1:
            raise SignalRefused("gone", pid)
        if seen_as != pid and (seen_as is not None or not proc_is_ours(proc)):
            raise SignalRefused("unproven", pid)
        try:
            proc_dir = os.open(f"{proc}/{pid}", os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            raise SignalRefused("gone", pid) from None
        try:
            actual = start_ticks(pid, dir_fd=proc_dir)
        finally:
            os.close(proc_dir)
        if actual != expected:
            raise SignalRefused("reused" if actual is not None else "gone", pid)
        try:
            signal.pidfd_send_signal(pidfd, signo)
        except PermissionError:
            raise SignalRefused("denied", pid) from None
        except ProcessLookupError:
            raise SignalRefused("gone", pid) from None
    finally:
        os.close(pidfd)
