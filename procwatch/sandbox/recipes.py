"""The demo recipes: what each one shows and why. Metadata only (the code that runs is in demos.py).

`stat_shown` is exactly what `ps -o stat=` prints for the demo's main process on Linux.
"""

from __future__ import annotations

import os
import resource
import shutil
from typing import NamedTuple

from procwatch.sandbox import linux as _sys


class Recipe(NamedTuple):
    key: str  # the id passed to Sandbox.spawn
    name: str  # short label for the panel
    stat_shown: str  # what `ps -o stat=` shows for the main process
    description: str  # which STAT letter/flag it shows and why
    processes: int = 1  # live processes it adds (for the cap)
    snippet: str = ""  # the tutorial-style Python it acts out (code, shown literally)
    branches: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (role, snippet line numbers from 1 that it runs)

    def lines_of(self, role: str) -> tuple[int, ...]:
        """The snippet lines a process of this role runs (role as in Demo.role: "parent", "child", ...)."""
        return dict(self.branches).get(role, ())


# ---------------------------------------------------------------- the tutorial's lessons, acted out
# Each runs the snippet's logic in real processes (tutorial.py); `branches` says which lines each role runs.

ZOMBIES = 8  # children the "many zombies" demo leaves unreaped
FORKS_RACED = 5  # forks of the "who runs first" demo
WAIT_CHILD_SECONDS = 3.0  # how long the child of the wait() demo lives: time to see its parent in S (do_wait)
BUSY_SECONDS = 2.0  # each phase of the parallel/concurrent demo
ESCAPE_LINGER = 2.0  # the middle process of the init-orphan demo lingers, so that a sweep sees the family
BUSY_CPUS = min(len(os.sched_getaffinity(0)), 8)  # the parallel demo's first phase: one busy child per CPU (at most 8)

LESSONS = (
    Recipe("cow", "fork copies memory", "S",
           "After fork() each process has its own copy of memory: the child changes a (1 -> 10000) at the same "
           "virtual address where the parent still reads 1. Pages are copied only when written (copy-on-write): "
           "the child's smaps_rollup shows shared kB turn into private kB.", 2,
           """\
import ctypes, os, time
a = ctypes.c_long(1)   # a = 1, at a fixed address
pid = os.fork()
if pid == 0:
    print(hex(ctypes.addressof(a)), a.value)  # 1
    a.value = 10000
    print(hex(ctypes.addressof(a)), a.value)
else:
    time.sleep(1)
    print(hex(ctypes.addressof(a)), a.value)  # 1""",
           (("parent", (1, 2, 3, 4, 8, 9, 10)), ("child", (3, 4, 5, 6, 7)))),
    Recipe("exits", "sys.exit vs os._exit", "S",
           "Each child ends another way; its parent's os.waitpid() gets the exit status: os._exit(3) -> 3, "
           "sys.exit(3) -> 3, sys.exit('退出') -> 1 with the message on stderr, sys.exit() -> 0, os._exit(256) -> 0 "
           "(only 8 bits are kept). sys.exit() only raises SystemExit: one child catches it and lives on. "
           "os._exit() skips flushing: buffered print() output is lost.", 2,
           """\
import os, sys
for how in ("os._exit(3)", "sys.exit(3)",
            "sys.exit('退出')", "sys.exit()",
            "os._exit(256)"):
    pid = os.fork()
    if pid == 0:
        exec(how)            # the child ends here
    pid, status = os.waitpid(pid, 0)
    print(how, os.waitstatus_to_exitcode(status))
pid = os.fork()
if pid == 0:
    try:
        sys.exit("退出")
    except SystemExit as e:
        print("退出原因:", e)  # it lives on""",
           (("parent", (1, 2, 3, 4, 5, 6, 8, 9, 10, 11)), ("child", (5, 6, 7, 10, 11, 12, 13, 14, 15)))),
    Recipe("wait", "os.wait() blocks", "S",
           f"The parent calls os.wait() and sleeps in the kernel (S, wait channel do_wait) until its child exits "
           f"({WAIT_CHILD_SECONDS:g} s); then wait() returns the tuple (pid, status) and the child is reaped.", 2,
           """\
import os, time
pid = os.fork()
if pid == 0:
    time.sleep(3)
    os._exit(2)
else:
    pid, status = os.wait()  # blocks: S, do_wait
    print(pid, status)       # 8427 512: exit code 2""",
           (("parent", (1, 2, 3, 6, 7, 8)), ("child", (2, 3, 4, 5)))),
    Recipe("zombies", "many zombies", "S",
           f"One parent, {ZOMBIES} children that exit at once, no wait(): {ZOMBIES} zombies. Each holds a PID "
           f"and counts against the user's process limit (RLIMIT_NPROC). w: the parent calls os.wait() in a loop "
           f"until ChildProcessError; p: it exits and the subreaper reaps them all.", 1 + ZOMBIES,
           f"""\
import os, time
for i in range({ZOMBIES}):
    if os.fork() == 0:
        os._exit(i)      # each child exits at once
time.sleep(3600)         # no wait(): {ZOMBIES} zombies
# w: reap them all
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break""",
           (("parent", (1, 2, 3, 5, 7, 8, 9, 10, 11)), ("child", (3, 4)))),
    Recipe("nozombie", "avoiding zombies", "S",
           "Three ways to leave no zombie: a SIGCHLD handler that calls os.waitpid(-1, os.WNOHANG) in a loop; "
           "SIGCHLD set to SIG_IGN (the kernel reaps, and os.wait() then fails with ECHILD); the double fork "
           "(the middle process exits at once, its child is adopted and reaped by the subreaper).", 2,
           """\
import os, signal
def reap(signum, frame):
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
signal.signal(signal.SIGCHLD, reap)     # 1. handler
if os.fork() == 0:
    os._exit(0)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # 2.
if os.fork() == 0:
    os._exit(0)
pid = os.fork()                      # 3. double fork
if pid == 0:
    if os.fork() == 0:
        work()                       # the grandchild
    os._exit(0)
os.waitpid(pid, 0)""",
           (("parent", (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 16, 17, 21)), ("child", (11, 12, 14, 15, 16, 17, 18, 20)),
            ("orphan", (18, 19)))),
    Recipe("first", "who runs first", "S",
           f"fork() {FORKS_RACED} times; right after fork() returns, each side reads the clock. Which side ran "
           f"first varies: the scheduler decides, and on several CPUs both may run at once.", 1,
           """\
import os, time
for n in range(5):
    pid = os.fork()
    t = time.monotonic_ns()  # both sides, at once
    if pid == 0:
        print("child", t)
        os._exit(0)
    print("parent", t)
    os.wait()""",
           (("parent", (1, 2, 3, 4, 5, 8, 9)), ("child", (3, 4, 5, 6, 7)))),
    Recipe("forkfail", "fork fails", "S",
           "Under a low RLIMIT_NPROC (processes per user) fork() fails. In C it returns -1; Python never "
           "returns a negative pid: os.fork() raises BlockingIOError (EAGAIN), caught with try/except.", 1,
           """\
import os, resource
resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
try:
    pid = os.fork()
except BlockingIOError as e:  # never pid < 0
    print("fork failed:", e)""",
           (("demo", (1, 2, 3, 4, 5, 6)),)),
    Recipe("exec", "program vs process", "S",
           "A program is a file; a process is one run of it. Two children run the same program (sleep): two "
           "PIDs. The second first runs as demo-exec, then calls exec: same PID, new program and name.", 3,
           """\
import os, time
if os.fork() == 0:
    os.execvp("sleep", ["sleep", "600"])  # run 1
if os.fork() == 0:
    time.sleep(2)                         # demo-exec
    os.execvp("sleep", ["sleep", "600"])  # run 2
os.wait()""",
           (("parent", (1, 2, 4, 7)), ("child", (2, 3)), ("exec", (4, 5, 6)))),
    Recipe("cores", "parallel vs concurrent", "S",
           f"As many busy children as CPUs (parallel: each has a CPU), then twice as many (concurrent: they take "
           f"turns in time slices; R means running or ready). Each phase lasts {BUSY_SECONDS:g} s; the narration "
           f"gives each child's time on a CPU against time ready in the run queue. Bounded by RLIMIT_CPU.",
           1 + 2 * BUSY_CPUS,
           """\
import os
n = os.cpu_count()
for i in range(n):             # then 2 * n
    if os.fork() == 0:
        while True:      # busy: never sleeps
            pass""",
           (("parent", (1, 2, 3, 4)), ("child", (4, 5, 6)))),
    Recipe("init-orphan", "orphan adopted by init", "S",
           f"An orphan adopted outside the sandbox: the supervisor clears its child-subreaper flag for this demo, "
           f"so when the middle process exits (after {ESCAPE_LINGER:g} s) the orphan goes to init (PID 1) or to a "
           f"subreaper above procwatch, as it would without a sandbox. It still dies with the supervisor "
           f"(a lifeline pipe), by its timer, or at cleanup (by pid and start time).", 1,
           """\
import os, time
pid = os.fork()
if pid == 0:
    time.sleep(3)
    print(os.getppid())  # 1: adopted by init
    time.sleep(3600)
else:
    time.sleep(2)
    os._exit(0)          # the parent exits first""",
           (("parent", (1, 2, 3, 7, 8, 9)), ("orphan", (2, 3, 4, 5, 6)))),
)


SNIPPET_Z = """\
import os, time
pid = os.fork()
if pid == 0:
    os._exit(3)          # the child exits at once
else:
    time.sleep(3600)     # no os.wait(): a zombie (Z)"""

SNIPPET_ORPHAN = """\
import os, time
pid = os.fork()
if pid == 0:
    print(os.getppid())  # its parent
    time.sleep(3)
    print(os.getppid())  # its adopter
    time.sleep(3600)
else:
    time.sleep(2)
    os._exit(0)          # the parent exits first"""

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
           "process table until the parent reaps it or exits.", 2,
           SNIPPET_Z, (("parent", (1, 2, 3, 5, 6)), ("child", (2, 3, 4)))),
    Recipe("orphan", "orphan", "S",
           "An orphan (S): its parent exited first, so it was adopted by the sandbox supervisor, a child subreaper "
           "(outside the sandbox, init adopts orphans). getppid() changed.", 1,
           SNIPPET_ORPHAN, (("parent", (1, 2, 3, 8, 9, 10)), ("orphan", (2, 3, 4, 5, 6, 7)))),
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
    *LESSONS,
)}
LESSON_KEYS = tuple(r.key for r in LESSONS)

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
    if key == "exec" and shutil.which("sleep") is None:
        return "the program-vs-process demo runs the sleep program twice; sleep is not on PATH"
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
