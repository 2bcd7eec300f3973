"""The tutorial's lessons acted out in real processes: the child's copy of memory, sys.exit vs os._exit, a parent
blocked in os.wait(), many zombies and their cost, three ways to avoid zombies, who runs first after fork, a
failing fork, program vs process, parallel vs concurrent, and an orphan adopted by init.

Same rules as demos.py (every path ends in os._exit; every process has the death signal and the self-destruct
timer, set by demos.enter; narration goes out as story events, never sentences). The recipes, with the snippet
each one acts out, are in recipes.py (LESSONS).
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import select
import shutil
import signal
import sys
import time
from collections.abc import Callable

from procwatch.engine import procfs
from procwatch.sandbox import linux as _sys
from procwatch.sandbox import protocol as wire
from procwatch.sandbox.demos import (
    HELPER_SIGNALS,
    Ctx,
    _adopter_kind,
    _fork_child,
    _helper_loop,
    _state_of,
    await_adoption,
    enter,
    sleep_forever,
)
from procwatch.sandbox.recipes import (
    BUSY_CPUS,
    BUSY_SECONDS,
    ESCAPE_LINGER,
    FORKS_RACED,
    WAIT_CHILD_SECONDS,
    ZOMBIES,
)

COW_CHILD_A = 10000  # what the cow demo's child writes into its copy of `a` (the tutorial's a = 10000)
COW_KB = 4096  # inherited memory the cow demo's child writes: its pages are copied then
EXEC_DELAY = 2.0  # the exec demo's second child runs as itself this long before exec (so a sweep sees both names)
NOBODY = 65534


def _await_eof(fd: int, timeout: float = 5.0) -> None:
    """Wait until every writer of a pipe closed it (the other process is done, or died)."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if ready:
        os.read(fd, 1)
    os.close(fd)


# ------------------------------------------------------------------ (1) fork copies memory


def _smaps_rollup(pid: int) -> tuple[int, int]:
    """(shared kB, private kB) of a process's whole address space, from /proc/PID/smaps_rollup."""
    values: dict[bytes, int] = {}
    for line in procfs.read(f"{procfs.PROC}/{pid}/smaps_rollup").splitlines():
        key, _, rest = line.partition(b":")
        if key in (b"Shared_Clean", b"Shared_Dirty", b"Private_Clean", b"Private_Dirty"):
            values[key] = int(rest.split()[0])
    shared = values.get(b"Shared_Clean", 0) + values.get(b"Shared_Dirty", 0)
    return shared, values.get(b"Private_Clean", 0) + values.get(b"Private_Dirty", 0)


def demo_cow(ctx: Ctx) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, HELPER_SIGNALS)
    me = os.getpid()
    a = ctypes.c_long(1)  # the tutorial's `a = 1`, at an address we can print
    block = ctypes.create_string_buffer(COW_KB * 1024)
    ctypes.memset(block, 1, len(block))  # written before fork: shared by both processes after it
    done_r, done_w = os.pipe()
    pid = _fork_child(ctx, "demo-cow-child")
    if pid == 0:
        os.close(done_r)
        child = os.getpid()
        ctx.tell(wire.ForkReturned("child", 0, child, os.getppid()))
        ctx.tell(wire.VariableSeen(child, "a", ctypes.addressof(a), a.value))
        ctx.tell(wire.MemoryShared(child, "before", *_smaps_rollup(child), COW_KB))
        a.value = COW_CHILD_A
        ctypes.memset(block, 2, len(block))  # every page written: the kernel copies each one for the child
        ctx.tell(wire.VariableSeen(child, "a", ctypes.addressof(a), a.value))
        ctx.tell(wire.MemoryShared(child, "after", *_smaps_rollup(child), COW_KB))
        os.close(done_w)
        sleep_forever()
    os.close(done_w)
    ctx.tell(wire.ForkReturned("parent", pid, me, os.getppid()))
    _await_eof(done_r)
    ctx.tell(wire.VariableSeen(me, "a", ctypes.addressof(a), a.value))
    ctx.ready(ctx.record("parent", "S", "sandbox.proc.cow_parent", a=a.value),
              ctx.record("child", "S", "sandbox.proc.cow_child", pid, a=COW_CHILD_A))
    _helper_loop(ctx, pid)


# ------------------------------------------------------------------ (2) sys.exit vs os._exit

# (call, argument, the child's program): each runs in a fresh interpreter (fork, then exec), so that what
# sys.exit does with its argument, and what os._exit skips, is CPython's own doing.
EXIT_VARIANTS: tuple[tuple[str, int | str | None, str], ...] = (
    ("os._exit", 3, "import os; os._exit(3)"),
    ("sys.exit", 3, "import sys; sys.exit(3)"),
    ("sys.exit", "退出", "import sys; sys.exit('退出')"),
    ("sys.exit", None, "import sys; sys.exit()"),
    ("os._exit", 256, "import os; os._exit(256)"),
    ("sys.exit", 0, "import sys; print('hello, buffered'); sys.exit(0)"),
    ("os._exit", 0, "import os; print('hello, buffered'); os._exit(0)"),
)


def _read_all(fd: int, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return data


def _exit_variant(ctx: Ctx, call: str, arg: int | str | None, code: str) -> None:
    me = os.getpid()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = _fork_child(ctx, "demo-exits-kid")
    if pid == 0:
        os.dup2(out_w, 1)  # a pipe, not a terminal: print() is block-buffered, as in the tutorial's redirections
        os.dup2(err_w, 2)
        try:
            os.execv(sys.executable, [sys.executable, "-I", "-S", "-X", "utf8", "-c", code])  # 退出 in any locale
        finally:
            os._exit(127)
    os.close(out_w)
    os.close(err_w)
    ctx.tell(wire.ExitCalled(pid, call, arg))
    deadline = time.monotonic() + 5
    out, err = _read_all(out_r, deadline), _read_all(err_r, deadline)
    got, status = os.waitpid(pid, 0)
    ctx.tell(wire.WaitReturned(me, got, status, "os.waitpid"))
    if err:
        ctx.tell(wire.OutputRead(me, pid, "stderr", err.decode(errors="replace").strip()))
    if "print" in code:
        ctx.tell(wire.OutputRead(me, pid, "stdout", out.decode(errors="replace").strip()))


def demo_exits(ctx: Ctx) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, HELPER_SIGNALS)
    for call, arg, code in EXIT_VARIANTS:
        _exit_variant(ctx, call, arg, code)
    pid = _fork_child(ctx, "demo-exits-live")
    if pid == 0:
        child = os.getpid()
        try:
            sys.exit("退出")
        except SystemExit as exc:
            ctx.tell(wire.ExitCaught(child, exc.code if isinstance(exc.code, (int, str)) else None))
        sleep_forever()
    ctx.ready(ctx.record("parent", "S", "sandbox.proc.exits_parent"),
              ctx.record("child", "S", "sandbox.proc.exits_child", pid))
    _helper_loop(ctx, pid)


# ------------------------------------------------------------------ (4) a parent blocked in os.wait()


def demo_wait(ctx: Ctx) -> None:
    me = os.getpid()
    pid = _fork_child(ctx, "demo-wait-child")
    if pid == 0:
        child = os.getpid()
        ctx.tell(wire.ForkReturned("child", 0, child, os.getppid()))
        time.sleep(WAIT_CHILD_SECONDS)
        ctx.tell(wire.ExitCalled(child, "os._exit", 2))
        os._exit(2)
    ctx.tell(wire.ForkReturned("parent", pid, me, os.getppid()))
    ctx.ready(ctx.record("parent", "S", "sandbox.proc.wait_parent"),
              ctx.record("child", "S", "sandbox.proc.wait_child", pid))
    ctx.tell(wire.WaitCalled(me))
    got, status = os.wait()
    ctx.tell(wire.WaitReturned(me, got, status, "os.wait"))
    ctx.gone(got, status)
    ctx.tell(wire.ExitCalled(me, "os._exit", 0, "after_wait"))
    os._exit(0)


# ------------------------------------------------------------------ (5) many zombies, their cost, a wait() loop


def _user_processes(uid: int) -> int:
    count = 0
    for pid in procfs.pids():
        try:
            count += os.stat(f"{procfs.PROC}/{pid}").st_uid == uid
        except OSError:
            pass
    return count


def _nproc_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    return -1 if soft == resource.RLIM_INFINITY else soft


def demo_zombies(ctx: Ctx) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGUSR2})
    me = os.getpid()
    kids = []
    for i in range(ZOMBIES):
        pid = _fork_child(ctx, "demo-zombie")
        if pid == 0:
            os._exit(i)
        kids.append(pid)
    deadline = time.monotonic() + 3
    while any(_state_of(pid) != b"Z" for pid in kids):
        if time.monotonic() > deadline:
            ctx.refuse("the zombie children did not exit in time")
        time.sleep(0.002)
    try:
        pid_max = int(procfs.read(f"{procfs.PROC}/sys/kernel/pid_max"))
    except (OSError, ValueError):
        pid_max = -1
    ctx.tell(wire.ZombieCost(me, len(kids), len(procfs.pids()), pid_max, _user_processes(os.getuid()),
                             _nproc_limit()))
    zombies = [ctx.record("child", "Z", "sandbox.proc.zombies_child", pid, n=n, parent=me)
               for n, pid in enumerate(kids)]
    ctx.ready(ctx.record("parent", "S", "sandbox.proc.zombies_parent", zombies=len(kids)), *zombies)

    def reap_all() -> None:
        ctx.tell(wire.WaitCalled(me))
        while True:
            try:
                got, status = os.wait()
            except ChildProcessError:
                ctx.tell(wire.WaitFailed(me, "ECHILD", "none_left"))
                return
            ctx.tell(wire.WaitReturned(me, got, status, "os.wait"))
            ctx.gone(got, status)

    def leave() -> None:
        left = [pid for pid in kids if _state_of(pid) == b"Z"]
        ctx.tell(wire.ExitCalled(me, "os._exit", 0, "zombie_left" if left else "after_wait"))
        os._exit(0)

    _helper_loop(ctx, 0, on_usr1=reap_all, on_usr2=leave, reap=False)


# ------------------------------------------------------------------ (6) avoiding zombies


def demo_nozombie(ctx: Ctx) -> None:
    me = os.getpid()
    reaped: list[int] = []

    def reap(_signum, _frame) -> None:  # the tutorial's handler: reap every child that has exited, never block
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            reaped.append(pid)
            ctx.tell(wire.WaitReturned(me, pid, status, "os.waitpid", "handler"))

    def quick_child() -> int:
        pid = _fork_child(ctx, "demo-nz-child")
        if pid == 0:
            ctx.tell(wire.ExitCalled(os.getpid(), "os._exit", 0))
            os._exit(0)
        ctx.tell(wire.ForkReturned("parent", pid, me, os.getppid()))
        return pid

    # 1. a SIGCHLD handler
    signal.signal(signal.SIGCHLD, reap)
    ctx.tell(wire.HandlerSet(me, "handler"))
    first = quick_child()
    deadline = time.monotonic() + 3
    while first not in reaped and time.monotonic() < deadline:
        time.sleep(0.005)  # the handler runs between two bytecodes, while we sleep here
    # 2. SIGCHLD ignored: the kernel reaps at once; wait() waits for every child to end, then fails with ECHILD
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    ctx.tell(wire.HandlerSet(me, "ignore"))
    quick_child()
    try:
        os.wait()
    except ChildProcessError:
        ctx.tell(wire.WaitFailed(me, "ECHILD", "sig_ign"))
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # 3. the double fork: the middle process exits at once; the grandchild is adopted by the subreaper
    info_r, info_w = os.pipe()  # the middle writes the grandchild's pid; EOF once the grandchild was adopted
    middle = _fork_child(ctx, "demo-nz-middle")
    if middle == 0:
        os.close(info_r)
        mid = os.getpid()
        grandchild = _fork_child(ctx, "demo-nz-orphan", death_signal=False)  # armed once adopted
        if grandchild == 0:
            g = os.getpid()
            deadline = time.monotonic() + 3
            while os.getppid() == mid:
                if time.monotonic() > deadline:
                    os._exit(1)
                time.sleep(0.002)
            adopter = os.getppid()
            _sys.set_death_signal(signal.SIGKILL, ctx.supervisor)
            ctx.tell(wire.Adopted(g, mid, adopter, "supervisor" if adopter == ctx.supervisor
                                  else _adopter_kind(adopter)))
            os.close(info_w)
            sleep_forever()
        os.write(info_w, grandchild.to_bytes(8, "little"))
        os.close(info_w)
        ctx.tell(wire.DoubleFork(mid, grandchild))
        ctx.tell(wire.ExitCalled(mid, "os._exit", 0))
        os._exit(0)
    os.close(info_w)
    got, status = os.waitpid(middle, 0)
    ctx.tell(wire.WaitReturned(me, got, status, "os.waitpid"))
    ready, _, _ = select.select([info_r], [], [], 3)
    grandchild = int.from_bytes(os.read(info_r, 8), "little") if ready else 0
    _await_eof(info_r)
    parent = ctx.record("parent", "S", "sandbox.proc.nozombie_parent")
    orphan = ctx.record("orphan", "S", "sandbox.proc.nozombie_grandchild", grandchild, middle=got)
    ctx.ready(parent, *([orphan] if grandchild else []))
    sleep_forever()


# ------------------------------------------------------------------ (7) who runs first after fork


def demo_first(ctx: Ctx) -> None:
    me = os.getpid()
    for n in range(1, FORKS_RACED + 1):
        stamp_r, stamp_w = os.pipe()
        pid = os.fork()
        stamp = time.monotonic_ns()  # both sides, right after fork() returned
        if pid == 0:
            enter(ctx, me, "demo-first-kid")
            os.write(stamp_w, stamp.to_bytes(8, "little"))
            os._exit(0)
        os.close(stamp_w)
        ready, _, _ = select.select([stamp_r], [], [], 3)
        data = os.read(stamp_r, 8) if ready else b""
        os.close(stamp_r)
        os.waitpid(pid, 0)
        if len(data) == 8:
            ctx.tell(wire.RanFirst(me, pid, n, stamp, int.from_bytes(data, "little")))
    ctx.ready(ctx.record("parent", "S", "sandbox.proc.race_parent"))
    sleep_forever()


# ------------------------------------------------------------------ (8) fork fails under RLIMIT_NPROC


def demo_forkfail(ctx: Ctx) -> None:
    me = os.getpid()
    if os.getuid() == 0:  # root's processes are exempt from RLIMIT_NPROC: act as an ordinary user
        try:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
        except OSError as exc:
            ctx.refuse(f"the fork-failure demo could not drop root privileges: {exc.strerror}")
        _sys.set_death_signal(signal.SIGKILL, ctx.supervisor)  # a change of credentials clears the death signal
    _, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    resource.setrlimit(resource.RLIMIT_NPROC, (1, hard))  # this user has at least this process: no room left
    uid = os.getuid()
    try:
        pid = os.fork()
    except BlockingIOError as exc:
        ctx.tell(wire.ForkFailed(me, type(exc).__name__, errno.errorcode.get(exc.errno or 0, str(exc.errno)), 1,
                                 _user_processes(uid), uid))
    else:
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        ctx.refuse("fork() did not fail under RLIMIT_NPROC 1 (this process has CAP_SYS_RESOURCE or "
                   "CAP_SYS_ADMIN)")
    ctx.ready(ctx.record("demo", "S", "sandbox.proc.forkfail", uid=uid))
    sleep_forever()


# ------------------------------------------------------------------ (10) program vs process, exec


def demo_exec(ctx: Ctx) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, HELPER_SIGNALS)
    me = os.getpid()
    program = shutil.which("sleep")
    if program is None:
        ctx.refuse("the exec demo needs the sleep program, which is not on PATH")
    seconds = str(ctx.ttl())

    def run_sleep(name: str, delay: float) -> int:
        exec_r, exec_w = os.pipe2(os.O_CLOEXEC)  # closed by a successful exec
        pid = _fork_child(ctx, name)
        if pid == 0:
            os.close(exec_r)
            if delay:
                time.sleep(delay)
            ctx.tell(wire.Exec(os.getpid(), name, "sleep"))
            try:
                os.execv(program, ["sleep", seconds])  # the death signal and the alarm survive exec
            finally:
                os._exit(127)
        os.close(exec_w)
        ctx.tell(wire.ForkReturned("parent", pid, me, os.getppid()))
        if not delay:
            _await_eof(exec_r)
        else:
            os.close(exec_r)
        return pid

    first = run_sleep("demo-exec-1", 0)
    second = run_sleep("demo-exec", EXEC_DELAY)
    ctx.ready(ctx.record("parent", "S", "sandbox.proc.exec_parent"),
              ctx.record("child", "S", "sandbox.proc.exec_run1", first, program="sleep"),
              ctx.record("exec", "S", "sandbox.proc.exec_run2", second, name="demo-exec", seconds=EXEC_DELAY,
                         program="sleep"))
    _reap_until_none(ctx)


def _reap_until_none(ctx: Ctx) -> None:
    """A parent of several children: reap each as it exits (SIGCHLD taken with sigtimedwait), exit when none
    is left."""
    me = os.getpid()
    while True:
        signal.sigtimedwait({signal.SIGCHLD}, 3600)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                ctx.tell(wire.ExitCalled(me, "os._exit", 0, "no_child_left"))
                os._exit(0)
            if pid == 0:
                break
            ctx.tell(wire.WaitReturned(me, pid, status))
            ctx.gone(pid, status)


# ------------------------------------------------------------------ (3) parallel vs concurrent


def _schedstat(pid: int) -> tuple[int, int]:
    """(ns on a CPU, ns waiting in a run queue) from /proc/PID/schedstat."""
    try:
        on_cpu, waiting, _ = procfs.read(f"{procfs.PROC}/{pid}/schedstat").split()
    except (OSError, ValueError):
        return 0, 0
    return int(on_cpu), int(waiting)


def _last_cpu(pid: int) -> int:
    fields = procfs.stat_fields(pid)
    return int(fields[36]) if fields and len(fields) > 36 else -1  # field 39, processor


def demo_cores(ctx: Ctx) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, HELPER_SIGNALS)
    me = os.getpid()
    cpus = BUSY_CPUS
    lifetime = 2 * BUSY_SECONDS + 1

    def busy() -> int:
        pid = _fork_child(ctx, "demo-busy")
        if pid == 0:
            resource.setrlimit(resource.RLIMIT_CPU, (int(lifetime) + 1, int(lifetime) + 3))
            deadline = time.monotonic() + lifetime
            n = 0
            while True:
                n += 1
                if n % 100000 == 0 and time.monotonic() > deadline:
                    os._exit(0)
        return pid

    kids: list[int] = []
    for phase in (1, 2):
        new = [busy() for _ in range(cpus)]
        kids += new
        ctx.tell(wire.Busy(me, len(kids), cpus))
        records = [ctx.record("child", "R", "sandbox.proc.busy_child", pid, phase=phase) for pid in new]
        if phase == 1:
            ctx.ready(ctx.record("parent", "S", "sandbox.proc.busy_parent"), *records)
        else:
            ctx.send(wire.Ready(ctx.group, me, records))
        before = {pid: _schedstat(pid) for pid in kids}
        time.sleep(BUSY_SECONDS)
        for pid in kids:
            on_cpu, waiting = _schedstat(pid)
            ctx.tell(wire.CpuShare(pid, _last_cpu(pid), on_cpu - before[pid][0], waiting - before[pid][1],
                                   BUSY_SECONDS))
    for pid in kids:  # the lesson is over: the parent ends its busy children
        try:
            os.kill(pid, signal.SIGKILL)  # our own child, not yet reaped: the pid cannot have been reused
        except ProcessLookupError:
            continue
        ctx.tell(wire.SignalSent(me, pid, "SIGKILL"))
    for pid in kids:
        got, status = os.waitpid(pid, 0)
        ctx.gone(got, status)
    sleep_forever()


# ------------------------------------------------------------------ (9) an orphan adopted by init


def demo_init_orphan(ctx: Ctx) -> None:
    """The middle process (our root) forks the orphan, lingers, then asks the supervisor to let its orphan go
    above the sandbox: the supervisor clears its subreaper flag, lets the middle exit, and sets it again."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    me = os.getpid()
    said_r, said_w = os.pipe()
    pid = _fork_child(ctx, "demo-init-orphan", death_signal=False)  # it must outlive its parent
    if pid == 0:
        os.close(said_r)
        await_adoption(ctx, me, said_w, 5 + ESCAPE_LINGER)
        ctx.ready(ctx.record("orphan", "S", "sandbox.proc.init_orphan", parent=me))
        # No death signal can help here (its parent is init): it ends when the supervisor goes (the lifeline
        # pipe, whose only writer is the supervisor, reads end-of-file), by its alarm, or by the supervisor's kill.
        select.select([ctx.lifeline], [], [], ctx.ttl())
        os._exit(0)
    os.close(said_w)
    ctx.tell(wire.ForkReturned("parent", pid, me, os.getppid()))
    _await_eof(said_r)
    ctx.tell(wire.ParentLingers(me, pid, ESCAPE_LINGER))
    time.sleep(ESCAPE_LINGER)
    ctx.tell(wire.ExitCalled(me, "os._exit", 0, "before_child", pid))
    ctx.send(wire.LetOrphanGo(ctx.group, me, pid))
    if signal.sigtimedwait({signal.SIGUSR1}, 3) is None:  # the supervisor cleared its flag: exit now
        ctx.refuse("the supervisor did not let the orphan go")
    os._exit(0)


RUNNERS: dict[str, Callable[[Ctx], None]] = {
    "cow": demo_cow, "exits": demo_exits, "wait": demo_wait, "zombies": demo_zombies, "nozombie": demo_nozombie,
    "first": demo_first, "forkfail": demo_forkfail, "exec": demo_exec, "cores": demo_cores,
    "init-orphan": demo_init_orphan,
}
