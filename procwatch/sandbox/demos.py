"""The code each demo runs. Called in a process the supervisor just forked; every path ends in os._exit.

A demo reports to the supervisor with one line per message (procwatch.sandbox.protocol: story events, ready,
refused, gone) written to the shared report pipe in a single write of at most PIPE_BUF bytes, so that the lines
of several demos never interleave. Start times are /proc/PID/stat field 22, read through procwatch.engine.procfs.
Safety inside every demo process: PR_SET_PDEATHSIG(SIGKILL) (checked against the expected parent, so a parent
that died before the prctl is noticed), alarm(ttl) as a self-destruct timer, and RLIMIT_CPU for the busy loop.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import mmap
import os
import resource
import signal
import termios
import threading
import time
from typing import NoReturn

from procwatch.engine import procfs
from procwatch.sandbox import linux as _sys
from procwatch.sandbox import protocol as wire
from procwatch.sandbox.recipes import NICE_HIGH, R_CPU_SECONDS, RECIPES

HELPER_SIGNALS = {signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD}
_RESET = [signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGALRM, signal.SIGUSR1,
          signal.SIGUSR2, signal.SIGQUIT]


class Ctx:
    """What a demo knows: its group id, the report pipe, the supervisor's pid and its deadline."""

    def __init__(self, key: str, group: int, report_fd: int, supervisor: int, deadline: float, devnull: int,
                 lifeline: int = -1):
        self.key = key
        self.group = group
        self.report_fd = report_fd
        self.supervisor = supervisor
        self.deadline = deadline
        self.devnull = devnull
        self.lifeline = lifeline  # read end of a pipe only the supervisor writes: EOF when it is gone

    def ttl(self) -> int:
        return max(1, int(self.deadline - time.time()) + 1)

    def send(self, report: wire.Report) -> None:
        data = wire.encode(report)  # one write: atomic, at most PIPE_BUF bytes
        try:
            os.write(self.report_fd, data)
        except OSError:
            os._exit(1)  # the supervisor is gone: nobody to report to

    def tell(self, story: wire.Story) -> None:
        """A story event for the narration: values, never sentences."""
        self.send(story)

    def refuse(self, reason: str) -> NoReturn:
        self.send(wire.Refused(self.group, reason))
        os._exit(1)

    def gone(self, pid: int, status: int) -> None:
        self.send(wire.Gone(self.group, pid, status))

    def record(self, role: str, stat: str, says: str = "", pid: int | None = None, /,
               **fields: wire.Scalar) -> wire.ProcRecord:
        """A process of this demo (pid: this one by default). says: what it is beyond the recipe's description,
        a catalogue id ("sandbox.proc.…"), with the values its phrase names: words are made by procwatch."""
        pid = os.getpid() if pid is None else pid
        stat_fields = procfs.stat_fields(pid)
        start, parent = (int(stat_fields[19]), int(stat_fields[1])) if stat_fields else (None, None)
        return wire.ProcRecord(pid, start, role, stat, says, fields, parent)

    def ready(self, main: wire.ProcRecord, *others: wire.ProcRecord) -> None:
        self.send(wire.Ready(self.group, main.pid, [main, *others]))


def _reset_signals() -> None:
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    for sig in _RESET:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def enter(ctx: Ctx, expected_parent: int, name: str, death_signal: bool = True) -> None:
    """Set up a freshly forked demo process: default signals, the death signal, the self-destruct timer."""
    _reset_signals()
    if death_signal:
        _sys.set_death_signal(signal.SIGKILL, expected_parent)
    signal.alarm(ctx.ttl())
    _sys.set_name(name)


def sleep_forever() -> None:
    while True:
        time.sleep(3600)


def run(ctx: Ctx) -> None:
    """Entry point in the process the supervisor forked. Never returns."""
    status = 1
    try:
        for fd in (0, 1):
            os.dup2(ctx.devnull, fd)
        enter(ctx, ctx.supervisor, f"demo-{ctx.key}")
        from procwatch.sandbox import tutorial  # already imported by the supervisor: costs nothing here

        (RUNNERS.get(ctx.key) or tutorial.RUNNERS[ctx.key])(ctx)
        status = 0
    except BaseException as exc:  # a demo must never unwind into the supervisor's code
        with contextlib.suppress(BaseException):
            ctx.send(wire.Refused(ctx.group, f"the {ctx.key} demo failed: {type(exc).__name__}: {exc}"))
    finally:
        os._exit(status)


# ------------------------------------------------------------------------------------------------ recipes


def _single(ctx: Ctx, value: int | None = None) -> wire.ProcRecord:
    r = RECIPES[ctx.key]
    rec = ctx.record("demo", r.stat_shown)
    ctx.tell(wire.DemoStarted(ctx.key, rec.pid, os.getppid(), value))
    return rec


def demo_R(ctx: Ctx) -> None:
    budget = min(R_CPU_SECONDS, ctx.ttl())
    resource.setrlimit(resource.RLIMIT_CPU, (budget, budget + 2))
    ctx.ready(_single(ctx, budget))
    deadline = time.monotonic() + budget
    n = 0
    while True:
        n += 1
        if n % 100000 == 0 and time.monotonic() > deadline:
            break
    ctx.tell(wire.ExitCalled(os.getpid(), "os._exit", 0, "cpu_budget"))


def demo_S(ctx: Ctx) -> None:
    ctx.ready(_single(ctx))
    sleep_forever()


def demo_T(ctx: Ctx) -> None:
    ctx.ready(_single(ctx))
    ctx.tell(wire.SignalSent(os.getpid(), os.getpid(), "SIGSTOP"))
    os.kill(os.getpid(), signal.SIGSTOP)
    ctx.tell(wire.Continued(os.getpid()))
    sleep_forever()


def demo_N(ctx: Ctx) -> None:
    new = os.nice(5)
    ctx.ready(_single(ctx, new))
    sleep_forever()


def demo_high(ctx: Ctx) -> None:
    try:
        new = os.nice(NICE_HIGH)
    except PermissionError:
        soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
        ctx.refuse(f"raising priority (nice {NICE_HIGH}) needs CAP_SYS_NICE or RLIMIT_NICE >= {20 - NICE_HIGH}; "
                   f"here RLIMIT_NICE is {soft}: os.nice({NICE_HIGH}) failed with EPERM")
    ctx.ready(_single(ctx, new))
    sleep_forever()


def demo_L(ctx: Ctx) -> None:
    page = mmap.PAGESIZE
    buf = mmap.mmap(-1, page)
    buf[0:1] = b"x"
    address = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    try:
        _sys.mlock(address, page)
    except OSError as exc:
        soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        ctx.refuse(f"locking memory needs RLIMIT_MEMLOCK of at least one page or CAP_IPC_LOCK; here RLIMIT_MEMLOCK "
                   f"is {soft} bytes: mlock() failed with {os.strerror(exc.errno or 0)}")
    ctx.ready(_single(ctx, page // 1024))
    sleep_forever()


def demo_s(ctx: Ctx) -> None:
    os.setsid()
    sid = os.getsid(0)
    ctx.ready(_single(ctx, sid))
    sleep_forever()


def _sleeper(ready: threading.Event) -> None:
    with contextlib.suppress(OSError):
        _sys.prctl(_sys.PR_SET_PDEATHSIG, int(signal.SIGKILL))
    ready.set()
    sleep_forever()


def _start_threads(n: int) -> None:
    for _ in range(n):
        ev = threading.Event()
        threading.Thread(target=_sleeper, args=(ev,), daemon=True).start()
        ev.wait(2)


def demo_l(ctx: Ctx) -> None:
    _start_threads(2)
    ctx.ready(_single(ctx, threading.active_count()))
    sleep_forever()


def demo_Zl(ctx: Ctx) -> None:
    _start_threads(2)
    me = os.getpid()
    ctx.ready(_single(ctx))
    ctx.tell(wire.MainThreadExit(me, 2))
    try:
        _sys.pthread_exit()
    finally:
        _sys.thread_exit_raw()  # not reached: pthread_exit does not return


def _helper_loop(ctx: Ctx, child: int, on_usr1=None, on_usr2=None, reap: bool = True,
                 on_stop=None) -> None:
    """A demo parent's life after the fork: wait for SIGUSR1/SIGUSR2 from the supervisor and, when `reap`, for
    its child's end (SIGCHLD: reap it and exit). Signals are blocked and taken with sigtimedwait: no handlers."""
    wanted = {signal.SIGUSR1, signal.SIGUSR2} | ({signal.SIGCHLD} if reap else set())
    me = os.getpid()
    while True:
        info = signal.sigtimedwait(wanted, 3600)
        if info is None:
            continue
        if info.si_signo == signal.SIGUSR1 and on_usr1:
            on_usr1()
        elif info.si_signo == signal.SIGUSR2 and on_usr2:
            on_usr2()
        elif info.si_signo == signal.SIGCHLD and reap:
            while True:
                try:
                    pid, status = os.waitpid(child, os.WNOHANG | os.WUNTRACED)
                except ChildProcessError:
                    os._exit(0)
                if pid == 0:
                    break
                if os.WIFSTOPPED(status):
                    if on_stop:
                        on_stop(status)
                    break
                ctx.tell(wire.WaitReturned(me, pid, status))
                ctx.gone(pid, status)
                ctx.tell(wire.ExitCalled(me, "os._exit", 0, "no_child_left"))
                os._exit(0)


def _fork_child(ctx: Ctx, name: str, death_signal: bool = True) -> int:
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        enter(ctx, parent, name, death_signal)
    return pid


def demo_Z(ctx: Ctx) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGUSR2})
    me = os.getpid()
    pid = _fork_child(ctx, "demo-Z-child")
    if pid == 0:
        child = os.getpid()
        ctx.tell(wire.ForkReturned("child", 0, child, os.getppid()))
        ctx.tell(wire.ExitCalled(child, "os._exit", 3))
        os._exit(3)
    start = procfs.start_ticks(pid)
    ctx.tell(wire.ForkReturned("parent", pid, me, os.getppid()))
    deadline = time.monotonic() + 3
    while _state_of(pid) != b"Z":
        if time.monotonic() > deadline:
            ctx.refuse(f"child {pid} did not exit in time")
        time.sleep(0.002)
    ctx.tell(wire.ZombieLeft(pid, me, 3))
    parent_rec = ctx.record("parent", "S", "sandbox.proc.zombie_parent", zombie=pid)
    zombie = wire.ProcRecord(pid, start, "child", "Z", "", {}, me)
    ctx.ready(zombie, parent_rec)
    reaped = False

    def do_wait() -> None:
        nonlocal reaped
        if reaped:
            return
        ctx.tell(wire.WaitCalled(me))
        got, status = os.wait()
        reaped = True
        ctx.tell(wire.WaitReturned(me, got, status))
        ctx.gone(got, status)

    def do_exit() -> None:
        ctx.tell(wire.ExitCalled(me, "os._exit", 0, "after_wait" if reaped else "zombie_left", pid))
        os._exit(0)

    _helper_loop(ctx, pid, on_usr1=do_wait, on_usr2=do_exit, reap=False)


ORPHAN_PARENT_SECONDS = 2.0


def demo_orphan(ctx: Ctx) -> None:
    me = os.getpid()
    said_r, said_w = os.pipe()  # the parent waits until the child has reported getppid(), then exits
    # No death signal yet in the child: it must outlive its parent. It arms one once adopted.
    pid = _fork_child(ctx, "demo-orphan", death_signal=False)
    if pid == 0:
        os.close(said_r)
        await_adoption(ctx, me, said_w, 3 + ORPHAN_PARENT_SECONDS)
        _sys.set_death_signal(signal.SIGKILL, ctx.supervisor)
        rec = ctx.record("orphan", "S", "sandbox.proc.orphan_first_parent", parent=me)
        ctx.ready(rec)
        sleep_forever()
    os.close(said_w)
    ctx.tell(wire.ForkReturned("parent", pid, me, os.getppid()))
    os.read(said_r, 1)  # EOF once the child has spoken (or died)
    # Linger so that a sweep sees the family before the parent leaves: re-parenting is then *observed*.
    ctx.tell(wire.ParentLingers(me, pid, ORPHAN_PARENT_SECONDS))
    time.sleep(ORPHAN_PARENT_SECONDS)
    ctx.tell(wire.ExitCalled(me, "os._exit", 0, "before_child", pid))
    os._exit(0)


def demo_t(ctx: Ctx) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, HELPER_SIGNALS)
    me = os.getpid()
    pid = _fork_child(ctx, "demo-t-traced")
    if pid == 0:
        try:
            _sys.ptrace_traceme()
        except OSError as exc:
            ctx.refuse(f"ptrace is not permitted here (PTRACE_TRACEME failed: {os.strerror(exc.errno or 0)}); "
                       f"Yama ptrace_scope or a seccomp policy forbids it")
        ctx.tell(wire.Traced(os.getpid(), me))
        os.kill(os.getpid(), signal.SIGSTOP)
        sleep_forever()
    ctx.tell(wire.ForkReturned("parent", pid, me, os.getppid()))
    try:
        _, status = os.waitpid(pid, os.WUNTRACED)
    except ChildProcessError:
        os._exit(1)
    if not os.WIFSTOPPED(status):
        os._exit(1)  # the child reported why (refused)
    ctx.tell(wire.TracedStop(me, pid, signal.Signals(os.WSTOPSIG(status)).name, True))
    traced = ctx.record("child", "t", "", pid)
    tracer = ctx.record("parent", "S", "sandbox.proc.tracer", child=pid)
    ctx.ready(traced, tracer)

    def stopped(status: int) -> None:
        ctx.tell(wire.TracedStop(me, pid, signal.Signals(os.WSTOPSIG(status)).name, False))

    _helper_loop(ctx, pid, on_stop=stopped)


def demo_D(ctx: Ctx) -> None:
    me = os.getpid()
    if threading.active_count() != 1 or _threads_of(me) != 1:
        ctx.refuse("the D demo needs a single-threaded process (a vfork-style clone in a threaded one deadlocks)")
    if _sys.machine() not in _sys.SYSCALLS:
        ctx.refuse(f"the D demo supports only x86_64 and aarch64 (this is {_sys.machine()})")
    ctx.tell(wire.VforkWait(me))
    pid = _sys.raw_vfork_clone()
    if pid == 0:
        child = os.getpid()
        enter(ctx, me, "demo-D-child")
        ctx.tell(wire.ForkReturned("child", 0, child, os.getppid(), "clone"))
        parent = ctx.record("demo", "D", "", me)
        kid = ctx.record("child", "S", "sandbox.proc.vfork_child", parent=me)
        ctx.ready(parent, kid)
        sleep_forever()
    got, status = os.waitpid(pid, 0)
    ctx.tell(wire.ForkReturned("parent", pid, me, os.getppid(), "clone"))
    ctx.tell(wire.WaitReturned(me, got, status))
    ctx.gone(got, status)
    ctx.tell(wire.ExitCalled(me, "os._exit", 0, "after_wait"))
    os._exit(0)


def await_adoption(ctx: Ctx, parent: int, said: int, seconds: float) -> None:
    """In an orphan-to-be: say what fork() returned, tell the parent (closing `said`) that it may exit, wait to be
    re-parented (at most `seconds`, else end), and say who adopted it."""
    me = os.getpid()
    ctx.tell(wire.ForkReturned("child", 0, me, os.getppid()))
    os.close(said)
    deadline = time.monotonic() + seconds
    while os.getppid() == parent:
        if time.monotonic() > deadline:
            os._exit(1)
        time.sleep(0.002)
    adopter = os.getppid()
    ctx.tell(wire.Adopted(me, parent, adopter, "supervisor" if adopter == ctx.supervisor else _adopter_kind(adopter)))


def _adopter_kind(pid: int) -> str:
    """init (PID 1 of this namespace) or a child subreaper (no /proc field says so: any other adopter is one)."""
    return "init" if pid == 1 else "subreaper"


def _state_of(pid: int) -> bytes | None:
    fields = procfs.stat_fields(pid)
    return fields[0] if fields else None


def _threads_of(pid: int) -> int:
    fields = procfs.stat_fields(pid)
    return int(fields[17]) if fields else 0


def demo_fg(ctx: Ctx) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, HELPER_SIGNALS)
    me = os.getpid()
    master, slave = os.openpty()
    tty = os.ttyname(slave)
    pid = _fork_child(ctx, "demo-fg")
    if pid == 0:
        os.close(master)
        if hasattr(os, "login_tty"):
            os.login_tty(slave)
        else:
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            if slave > 2:
                os.close(slave)
        child = os.getpid()
        ctx.tell(wire.LoginTty(child, tty))
        fg = ctx.record("child", "Ss+")
        holder = ctx.record("parent", "S", "sandbox.proc.pty_holder", me, tty=tty)
        ctx.ready(fg, holder)
        sleep_forever()
    os.close(slave)
    ctx.tell(wire.ForkReturned("parent", pid, me, os.getppid()))
    _helper_loop(ctx, pid)


RUNNERS = {
    "R": demo_R, "S": demo_S, "D": demo_D, "T": demo_T, "t": demo_t, "Z": demo_Z, "orphan": demo_orphan,
    "N": demo_N, "<": demo_high, "L": demo_L, "s": demo_s, "l": demo_l, "+": demo_fg, "Zl": demo_Zl,
}
