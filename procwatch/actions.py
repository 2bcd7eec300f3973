"""Signals, sent only to the process the user picked: its identity (pid + start time) is checked on a pidfd,
which pins the process, so a PID reused between the check and the kill cannot receive the signal."""

from __future__ import annotations

import os
import signal

from procwatch.model import Identity

SIGNALS = ("TERM", "KILL", "INT", "HUP", "STOP", "CONT")


class SignalRefused(Exception):
    """Nothing was sent; the message says why in one line."""


def start_ticks(pid: int, proc: str = "/proc", dir_fd: int | None = None) -> int | None:
    try:
        if dir_fd is not None:
            fd = os.open("stat", os.O_RDONLY, dir_fd=dir_fd)
        else:
            fd = os.open(f"{proc}/{pid}/stat", os.O_RDONLY)
        try:
            raw = os.read(fd, 4096)
        finally:
            os.close(fd)
        return int(raw[raw.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def send_signal(identity: Identity, name: str, label: str = "") -> str:
    """Send SIG<name> to the process with this identity. Returns what was done; raises SignalRefused."""
    pid, expected = identity
    signo = getattr(signal, f"SIG{name}")
    who = f"{pid} ({label})" if label else str(pid)
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise SignalRefused(f"process {who} has exited; nothing sent") from None
    except OSError as error:
        raise SignalRefused(f"cannot open process {who}: {error.strerror}") from None
    try:
        # /proc/PID as a directory fd: after pidfd_open the PID cannot be reused while we hold the pidfd.
        try:
            proc_dir = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            raise SignalRefused(f"process {who} has exited; nothing sent") from None
        try:
            actual = start_ticks(pid, dir_fd=proc_dir)
        finally:
            os.close(proc_dir)
        if actual != expected:
            raise SignalRefused(f"PID {pid} now belongs to another process (it was reused); nothing sent")
        try:
            signal.pidfd_send_signal(pidfd, signo)
        except PermissionError:
            raise SignalRefused(f"permission denied: you may not signal {who}") from None
        except ProcessLookupError:
            raise SignalRefused(f"process {who} has exited; nothing sent") from None
    finally:
        os.close(pidfd)
    return f"sent SIG{name} to {who}"


def read_wchan(pid: int) -> str:
    """The kernel function a sleeping process waits in ('' when unknown or hidden)."""
    try:
        with open(f"/proc/{pid}/wchan", "rb") as f:
            value = f.read(256).decode(errors="replace")
    except OSError:
        return ""
    return "" if value in ("0", "") else value
