"""Small Linux helpers for the sandbox: prctl, ptrace, mlock, raw syscalls, /proc reads, identity-checked signals.

Standard library only (ctypes); imported by the supervisor and by its demo processes. No Textual.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import signal

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
PTRACE_TRACEME = 0

# Raw syscall numbers: clone (D recipe) and exit (thread exit, fallback for the Zl recipe).
SYSCALLS = {
    "x86_64": {"clone": 56, "exit": 60},
    "aarch64": {"clone": 220, "exit": 93},
}
CLONE_VFORK = 0x00004000

_libc: ctypes.CDLL | None = None
_pylibc: ctypes.PyDLL | None = None


def libc() -> ctypes.CDLL:
    """libc through ctypes.CDLL: the GIL is released during each call."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def libc_gil_held() -> ctypes.PyDLL:
    """libc through ctypes.PyDLL: the GIL stays held during the call (used for the raw clone)."""
    global _pylibc
    if _pylibc is None:
        _pylibc = ctypes.PyDLL(None, use_errno=True)
    return _pylibc


def _check(rc: int, what: str) -> int:
    if rc == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


def prctl(option: int, arg: int = 0) -> None:
    fn = libc().prctl
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    _check(fn(option, arg, 0, 0, 0), "prctl")


def set_name(name: str) -> None:
    """Set comm (what `ps -o comm` and /proc/PID/stat show), at most 15 bytes."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    fn = libc().prctl
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    fn(PR_SET_NAME, buf, 0, 0, 0)
    fn.argtypes = None


def set_death_signal(sig: int, expected_parent: int | None = None) -> None:
    """PR_SET_PDEATHSIG, then close the race: if the parent already died, act as if the signal came."""
    prctl(PR_SET_PDEATHSIG, int(sig))
    if expected_parent is not None and os.getppid() != expected_parent:
        os.kill(os.getpid(), sig)


def ptrace_traceme() -> None:
    fn = libc().ptrace
    fn.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    fn.restype = ctypes.c_long
    _check(fn(PTRACE_TRACEME, 0, None, None), "ptrace(PTRACE_TRACEME)")


def mlock(address: int, length: int) -> None:
    fn = libc().mlock
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    fn.restype = ctypes.c_int
    _check(fn(address, length), "mlock")


def machine() -> str:
    return platform.machine()


def raw_vfork_clone() -> int:
    """clone(CLONE_VFORK | SIGCHLD) without CLONE_VM: the child gets a copy of memory (like fork), the parent
    sleeps uninterruptibly (D, but killable) until the child exits or execs. Returns like fork().
    Only safe in a single-threaded process."""
    numbers = SYSCALLS.get(machine())
    if numbers is None:
        raise OSError(errno.ENOSYS, f"no clone syscall number known for {machine()}")
    fn = libc_gil_held().syscall
    fn.restype = ctypes.c_long
    flags = CLONE_VFORK | int(signal.SIGCHLD)
    # x86_64: clone(flags, newsp, parent_tid, child_tid, tls); aarch64: (flags, newsp, parent_tid, tls, child_tid).
    rc = fn(ctypes.c_long(numbers["clone"]), ctypes.c_ulong(flags), ctypes.c_ulong(0), ctypes.c_ulong(0),
            ctypes.c_ulong(0), ctypes.c_ulong(0))
    return _check(rc, "clone")


def thread_exit_raw() -> None:
    """exit(2) for the calling thread only (not exit_group): no unwinding, the other threads keep running."""
    numbers = SYSCALLS[machine()]
    fn = libc().syscall
    fn.restype = ctypes.c_long
    fn(ctypes.c_long(numbers["exit"]), ctypes.c_long(0))


def pthread_exit() -> None:
    """pthread_exit(NULL) for the calling thread, with the GIL released (ctypes.CDLL) so other threads go on."""
    fn = libc().pthread_exit
    fn.argtypes = [ctypes.c_void_p]
    fn.restype = None
    fn(None)


# ---------------------------------------------------------------- /proc


def read_stat(pid: int | str) -> list[str] | None:
    """Fields of /proc/PID/stat from field 3 (state) on, or None when the process is gone.
    Index i holds field i + 3: state is [0], ppid [1], start time (field 22) [19]."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    close = raw.rfind(b")")
    if close < 0:
        return None
    return raw[close + 2 :].decode("ascii", "replace").split()


def start_ticks(pid: int | str) -> int | None:
    fields = read_stat(pid)
    return int(fields[19]) if fields else None


def state_of(pid: int | str) -> str | None:
    fields = read_stat(pid)
    return fields[0] if fields else None


def ppid_of(pid: int | str) -> int | None:
    fields = read_stat(pid)
    return int(fields[1]) if fields else None


def ps_stat(pid: int) -> str | None:
    """The STAT column the way `ps -o stat` composes it (see procwatch.engine.stat.format_stat), from /proc only."""
    fields = read_stat(pid)
    if not fields:
        return None
    state, session, pgrp, tpgid = fields[0], int(fields[3]), int(fields[2]), int(fields[5])
    nice, threads = int(fields[16]), int(fields[17])
    locked = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmLck:"):
                    locked = int(line.split()[1])
                    break
    except OSError:
        pass
    out = state
    out += "<" if nice < 0 else "N" if nice > 0 else ""
    out += "L" if locked else ""
    out += "s" if session == pid else ""
    out += "l" if threads > 1 else ""
    out += "+" if pgrp == tpgid else ""
    return out


def children_map() -> dict[int, list[int]]:
    """ppid -> [pid] over every visible process."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = read_stat(name)
        if fields:
            kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def descendants(root: int) -> list[int]:
    kids = children_map()
    out: list[int] = []
    todo = list(kids.get(root, ()))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def signal_identity(pid: int, ticks: int, sig: int) -> bool:
    """Send sig to pid only if it is still the process that started at `ticks` (clock ticks after boot).
    A pidfd pins the process first, so the check and the signal cannot straddle a PID reuse.
    Returns False (and sends nothing) when the identity does not match or the process is gone."""
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return False
    try:
        if start_ticks(pid) != ticks:
            return False
        try:
            signal.pidfd_send_signal(fd, sig)
        except ProcessLookupError:
            return False
        return True
    finally:
        os.close(fd)


def status_words(status: int) -> str:
    """A wait() status as the narration says it: 768 -> 'status 768, exit code 3'."""
    if os.WIFEXITED(status):
        return f"status {status}, exit code {os.WEXITSTATUS(status)}"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"status {status}, killed by {name}" + (" (core dumped)" if os.WCOREDUMP(status) else "")
    return f"status {status}"
