"""The demo recipes: what each one shows and why. Metadata only (the code that runs is in demos.py).

`stat_shown` is exactly what `ps -o stat=` prints for the demo's main process on Linux.
"""

from __future__ import annotations

import os
import resource
from typing import NamedTuple

from procwatch.sandbox import linux as _sys


class Recipe(NamedTuple):
    key: str  # the id passed to Sandbox.spawn
    name: str  # short label for the panel
    stat_shown: str  # what `ps -o stat=` shows for the main process
    description: str  # which STAT letter/flag it shows and why
    processes: int = 1  # live processes it adds (for the cap)


RECIPES: dict[str, Recipe] = {r.key: r for r in (
    Recipe("R", "running", "R",
           "R: a busy loop that never sleeps, so it is always on a CPU or ready for one. "
           "Bounded: it stops after a few minutes of CPU time (RLIMIT_CPU)."),
    Recipe("S", "sleeping", "S",
           "S: it called sleep(), an interruptible wait: it gives up the CPU until a timer or a signal wakes it."),
    Recipe("D", "disk sleep", "D",
           "D: it called clone() like vfork() and waits in the kernel until its child exits. This wait is "
           "killable (TASK_KILLABLE, shown as D): SIGKILL or a signal whose default action kills (SIGTERM) ends it "
           "at once; other signals wait. Many other D sleeps (some disk I/O) are not killable: they end only when the "
           "kernel is done.", 2),
    Recipe("T", "stopped", "T",
           "T: it sent itself SIGSTOP. A stopped process is frozen until SIGCONT; only SIGKILL ends it meanwhile."),
    Recipe("t", "traced", "t",
           "t: it asked its parent to trace it (ptrace PTRACE_TRACEME) and stopped: it waits for its tracer, "
           "as a program does under a debugger.", 2),
    Recipe("Z", "zombie", "Z",
           "Z: the child called os._exit(3) but its parent never calls wait(): the exit status stays in the "
           "process table until the parent reaps it or exits.", 2),
    Recipe("orphan", "orphan", "S",
           "An orphan (S): its parent exited first, so it was adopted by the sandbox supervisor, a child subreaper "
           "(outside the sandbox, init adopts orphans). getppid() changed.", 1),
    Recipe("N", "low priority", "SN",
           "N: it called os.nice(5): a positive nice value means a lower priority (it yields the CPU to others)."),
    Recipe("<", "high priority", "S<",
           "<: it lowered its nice value to -5: a higher priority. Needs CAP_SYS_NICE or a high RLIMIT_NICE."),
    Recipe("L", "locked memory", "SL",
           "L: it locked one page in RAM with mlock(): that page can never be swapped out (VmLck)."),
    Recipe("s", "session leader", "Ss",
           "s: it called setsid(): it leads a new session (its session id is its own pid), as a login shell does."),
    Recipe("l", "multithreaded", "Sl",
           "l: it started two extra threads: one process, several threads sharing its memory."),
    Recipe("+", "foreground", "Ss+",
           "+: it runs on its own terminal (a pty, via openpty and login_tty) and its process group is that "
           "terminal's foreground group, like a command typed in a shell. Its parent holds the pty master, "
           "as a terminal emulator does.", 2),
    Recipe("Zl", "main thread exited", "Zl",
           "Zl: its main thread called pthread_exit() while two other threads run. ps shows Z for the exited "
           "main thread, but the process is NOT dead: the l says other threads still run."),
)}

NICE_HIGH = -5  # the nice value the "<" recipe asks for
R_CPU_SECONDS = 180  # CPU budget of a running demo


def precheck(key: str, privileges: bool = True) -> str | None:
    """A one-line reason why `key` cannot work here, found without starting a process; None if it may work.
    The demo itself still tries and reports the real error (e.g. EPERM from ptrace). With privileges=False,
    only the unknown key and the CPU architecture are checked."""
    if key not in RECIPES:
        return f"no such demo: {key!r} (known: {', '.join(RECIPES)})"
    if key == "D" and _sys.machine() not in _sys.SYSCALLS:
        return (f"the D demo needs the raw clone syscall number for this CPU; only x86_64 and aarch64 are supported "
                f"(this is {_sys.machine()})")
    if key == "Zl" and _sys.machine() not in _sys.SYSCALLS:
        return f"the Zl demo is only supported on x86_64 and aarch64 (this is {_sys.machine()})"
    if not privileges:
        return None
    if key == "<" and not _has_cap(CAP_SYS_NICE):
        soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
        need = 20 - NICE_HIGH
        if soft != resource.RLIM_INFINITY and soft < need:
            return (f"raising priority (nice {NICE_HIGH}) needs CAP_SYS_NICE or RLIMIT_NICE >= {need}; "
                    f"here RLIMIT_NICE is {soft} and CAP_SYS_NICE is missing")
    if key == "L" and not _has_cap(CAP_IPC_LOCK):
        soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        if soft != resource.RLIM_INFINITY and soft < resource.getpagesize():
            return (f"locking memory needs RLIMIT_MEMLOCK of at least one page or CAP_IPC_LOCK; "
                    f"here RLIMIT_MEMLOCK is {soft} bytes and CAP_IPC_LOCK is missing")
    return None


CAP_IPC_LOCK = 14
CAP_SYS_NICE = 23


def _has_cap(cap: int) -> bool:
    """Whether `cap` is in this process's effective capability set (from /proc/self/status)."""
    try:
        with open(f"/proc/{os.getpid()}/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> cap & 1)
    except OSError:
        pass
    return os.geteuid() == 0
