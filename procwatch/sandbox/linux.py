"""The sandbox's Linux system calls through ctypes: prctl, ptrace, mlock, the raw clone, thread exits.

Standard library only; imported by the supervisor and by its demo processes. No /proc reading here: that, and the
identity-checked signal, are in procwatch.engine.procfs.
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
    prctl(PR_SET_NAME, ctypes.addressof(buf))  # buf lives until the call returns


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
