"""Every phrase a user reads about a process, and every formatting of durations, bytes, devices and statuses.

One wording for the TUI, `--once` and `--json`: the facts come from the engine as values (letters, numbers,
NamedTuples); the words are made here only. Standard library only. Untrusted text (names) is *not* escaped here:
callers escape at the edge they draw on (procwatch.engine.escape.printable).
"""

from __future__ import annotations

import os
import signal
from typing import NamedTuple

from procwatch.engine.lineage import Observations, Orphan, Zombie
from procwatch.engine.model import ProcInfo
from procwatch.engine.procfs import SignalRefused
from procwatch.engine.stat import StatSource, format_stat

# ---------------------------------------------------------------- STAT letters and flags

STATE_WORDS = {
    "R": "running or runnable",
    "S": "sleeping (interruptible wait)",
    "D": "disk sleep (uninterruptible wait)",
    "T": "stopped by a signal",
    "t": "stopped by a tracer (ptrace)",
    "Z": "zombie (exited, not yet reaped by its parent)",
    "X": "dead (being removed)",
    "I": "idle kernel thread",
    "W": "paging",
    "P": "parked",
    "K": "wakekill",
}

FLAG_WORDS = {
    "<": "high priority (nice {nice})",
    "N": "low priority (nice {nice})",
    "L": "has pages locked in memory ({locked_kb} kB)",
    "s": "session leader",
    "l": "multithreaded ({threads} threads)",
    "+": "in the foreground process group of its terminal",
}

FLAG_LEGEND = {flag: text.split(" (")[0] for flag, text in FLAG_WORDS.items()}  # without the numbers


class ProcessModel(NamedTuple):
    three_state: str  # ready/running, waiting (blocked), or "-" outside the model
    five_state: str  # new, ready, running, waiting, terminated
    note: str


def state_model(state: str) -> ProcessModel:
    """Where a kernel state sits in the classic three-state and five-state process models."""
    if state == "R":
        return ProcessModel("ready/running", "ready or running",
                            "R covers both: on a CPU now, or runnable and waiting for a time slice")
    if state in "SDI":
        kind = "uninterruptible: signals wait until the I/O completes" if state == "D" else "wakes on an event or signal"
        return ProcessModel("waiting", "waiting (blocked)", kind)
    if state in "Tt":
        return ProcessModel("waiting", "waiting (suspended)",
                            "suspended until SIGCONT" if state == "T" else "suspended until its tracer resumes it")
    if state in "ZX":
        return ProcessModel("-", "terminated",
                            "has exited; only its process-table entry remains until the parent calls wait()")
    return ProcessModel("-", "-", "a state old kernels used")


def state_word(letter: str) -> str:
    return STATE_WORDS.get(letter, "unknown state")


def describe_stat(p: StatSource) -> list[str]:
    """One phrase per STAT character, in ps order, e.g. ['S: sleeping ...', 'N: low priority (nice 5)']."""
    stat = format_stat(p)
    phrases = [f"{stat[0]}: {state_word(stat[0])}"]
    for flag in stat[1:]:
        phrases.append(f"{flag}: " + FLAG_WORDS[flag].format(nice=p.nice, locked_kb=p.locked_kb, threads=p.threads))
    return phrases


def stat_summary(p: StatSource) -> str:
    """`SNs` -> 'sleeping (interruptible wait) · low priority (nice 5) · session leader'."""
    return " · ".join(phrase.split(": ", 1)[1] for phrase in describe_stat(p))


# ---------------------------------------------------------------- numbers


def signal_name(signo: int) -> str:
    try:
        return signal.Signals(signo).name
    except ValueError:
        return f"signal {signo}"


def wait_status(status: int) -> str:
    """A wait() status in words: 768 -> 'exit 3', 9 -> 'killed by SIGKILL'."""
    if os.WIFEXITED(status):
        return f"exit {os.WEXITSTATUS(status)}"
    if os.WIFCONTINUED(status):
        return "continued"
    if os.WIFSTOPPED(status):
        return f"stopped by {signal_name(os.WSTOPSIG(status))}"
    return f"killed by {signal_name(os.WTERMSIG(status))}" + (" (core dumped)" if os.WCOREDUMP(status) else "")


def wait_status_long(status: int) -> str:
    """The status as the narration shows it, raw number first: 768 -> 'status 768, exit code 3'."""
    if os.WIFEXITED(status):
        return f"status {status}, exit code {os.WEXITSTATUS(status)}"
    return f"status {status}, {wait_status(status)}"


def format_duration(seconds: float) -> str:
    """How long something has lasted, in units: 59s, 12m34s, 3h02m, 4d03h."""
    return _age(seconds, "{m}m{s:02d}s", "{h}h{m:02d}m")


def format_elapsed(seconds: float) -> str:
    """A clock-like age for a column, like ps etime but shorter: 59s, 12:34, 3:02:01, 4d03h."""
    return _age(seconds, "{m}:{s:02d}", "{h}:{m:02d}:{s:02d}")


def _age(seconds: float, minutes: str, hours: str) -> str:
    """Seconds below a minute and days above a day read the same in both styles; only the middle differs."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 86400:
        h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
        return (minutes if seconds < 3600 else hours).format(h=h, m=seconds // 60 if seconds < 3600 else m, s=s)
    return f"{seconds // 86400}d{seconds // 3600 % 24:02d}h"


def format_bytes(size: float) -> str:
    for unit in ("B", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return f"{size:.0f}{unit}" if unit == "B" or size >= 100 else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.0f}T"


def tty_name(tty_nr: int) -> str:
    """The TTY column: decode the device number as ps does for the common terminals."""
    if tty_nr == 0:
        return "?"
    major = (tty_nr >> 8) & 0xFFF
    minor = (tty_nr & 0xFF) | ((tty_nr >> 12) & 0xFFF00)
    if 136 <= major <= 143:
        return f"pts/{minor + (major - 136) * 256}"
    if major == 4:
        return f"tty{minor}" if minor < 64 else f"ttyS{minor - 64}"
    return f"{major}:{minor}"


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


# ---------------------------------------------------------------- zombies, orphans, markers


def zombie_wait(zombie: Zombie, now: float) -> str:
    """' for at least 1m15s' (empty under a second: 'unreaped for 0s' says nothing)."""
    waited = now - zombie.since
    return f" for {'at least ' if zombie.seen_at_start else ''}{format_duration(waited)}" if waited >= 1 else ""


def explain_zombie(zombie: Zombie, parent: int, parent_name: str, now: float) -> str:
    if zombie.threads_alive:
        return ("main thread exited but other threads still run: this process is not dead, "
                "so it is not a zombie yet")
    return f"zombie{zombie_wait(zombie, now)}: {wait_status(zombie.exit_code)}, waiting for parent {parent} ({parent_name}) to call wait()"


def explain_orphan(orphan: Orphan) -> str:
    adopter = f"{orphan.adopter} ({orphan.adopter_name})"
    kind = "init" if orphan.adopter_is_init else "a child subreaper"
    if orphan.evidence == "reparented":
        return (f"orphan: parent {orphan.old_parent} ({orphan.old_parent_name}) exited; adopted by {adopter}, "
                f"{kind} [seen re-parented]")
    return (f"likely orphan: child of {adopter} but not a session leader, while its session leader "
            f"{orphan.session_leader} is alive elsewhere [static evidence]")


def markers(p: ProcInfo, observations: Observations, context: bool = False) -> list[str]:
    """The short words after a command, in the tree and in `--once`; the details panel has the long story."""
    out = []
    zombie = observations.zombies.get(p.pid)
    if zombie is not None:
        if zombie.threads_alive:
            out.append("exiting: threads still run")
        else:
            waited = observations.snapshot.taken_at - zombie.since
            out.append(f"zombie, {wait_status(zombie.exit_code)}" + (
                f", unreaped {'≥' if zombie.seen_at_start else ''}{format_duration(waited)}" if waited >= 1 else ""))
    unreaped = observations.unreaped.get(p.pid)
    if unreaped is not None:
        out.append(f"not reaping {plural(unreaped.count, 'zombie')}")
    orphan = observations.orphans.get(p.pid)
    if orphan is not None:
        if orphan.evidence == "reparented":
            out.append(f"orphan of {orphan.old_parent}, adopted by {orphan.adopter}")
        else:
            out.append("likely orphan")
    if p.state == "D":
        out.append("uninterruptible")
    elif p.state == "T":
        out.append("stopped")
    elif p.state == "t":
        out.append("traced")
    if context:
        out.append("context: ancestor of a match")
    return out


# ---------------------------------------------------------------- signals and notices


def process_label(pid: int, name: str) -> str:
    return f"{pid} ({name})" if name else str(pid)


def signal_sent(name: str, who: str) -> str:
    return f"sent SIG{name} to {who}"


def stop_warning(target: str, pid: int) -> str:
    """Said before SIGSTOP is confirmed for a process that procwatch itself needs. target: "procwatch" or
    "supervisor"."""
    if target == "procwatch":
        return (f"This is procwatch itself: stopped, it can neither draw nor read a key until another terminal "
                f"runs `kill -CONT {pid}`.")
    return ("This is the sandbox supervisor: stopped, it can neither fork, reap nor narrate a demo until it gets "
            "SIGCONT. Quitting procwatch still ends it and every demo.")


def signal_refused(refused: SignalRefused, who: str) -> str:
    if refused.reason == "gone":
        return f"process {who} has exited; nothing sent"
    if refused.reason == "reused":
        return f"PID {refused.pid} now belongs to another process (it was reused); nothing sent"
    if refused.reason == "denied":
        return f"permission denied: you may not signal {who}"
    if refused.reason == "unproven":
        return (f"/proc shows another PID namespace than procwatch's: {who} cannot be proven to be the process "
                "you see; nothing sent")
    return f"cannot open process {who}: {refused.detail}"


FOREIGN_PROC_NOTE = "/proc belongs to another PID namespace: signals and the sandbox are off"


def hidepid_note(mode: str) -> str:
    return f"/proc is mounted hidepid={mode}: only your own processes are visible"


# ---- sandbox events
# The sandbox (procwatch.sandbox.protocol) sends typed story events, never sentences: one phrase per event class,
# keyed by the class name, so that a translation is one more table like SANDBOX_PHRASES. Fields are read by name.

_ADOPTERS = {"supervisor": "the sandbox supervisor {adopter} (a child subreaper)", "init": "init ({adopter})",
             "subreaper": "{adopter}, a child subreaper above procwatch"}
_STOP_REASONS = {"pipe": "procwatch went away (its pipe closed)", "close": "procwatch closed the sandbox",
                 "signal": "the supervisor got {detail}", "lifetime": "the sandbox reached its maximum lifetime",
                 "early": "procwatch was gone before the supervisor started",
                 "stdout": "procwatch closed its end of the pipe", "error": "{detail}"}
_DEMO_STARTED = {
    "R": "it loops without sleeping for at most {value} s of CPU time", "S": "it calls time.sleep()",
    "N": "os.nice(5) set its nice value to {value}: lower priority",
    "<": "os.nice(-5) set its nice value to {value}: higher priority",
    "L": "mlock() locked one page ({value} kB) in RAM",
    "s": "setsid() returned {value}: it leads its own session (session id = its pid)",
    "l": "it started 2 threads: {value} threads share one process", "Zl": "it started 2 threads",
}


def _arg(value: object) -> str:
    return "" if value is None else repr(value)


def _fork_returned(e) -> str:
    if e.side == "child":
        return f"{e.call}() returned 0 in the child: getpid() = {e.getpid}, getppid() = {e.getppid}"
    return f"{e.call}() returned {e.returned} in the parent {e.getpid} and 0 in the child"


def _exit_called(e) -> str:
    call = f"{e.call}({_arg(e.arg)})"
    why = {
        "cpu_budget": f"busy demo {e.pid} used up its CPU budget and called {call}",
        "no_child_left": f"parent {e.pid} has no child left and calls {call}",
        "zombie_left": f"parent {e.pid} calls {call} without calling wait(): "
                       + (f"zombie {e.other} loses its parent" if e.other else "its zombies lose their parent"),
        "before_child": f"parent {e.pid} calls {call} before its child {e.other} ends",
        "after_wait": f"parent {e.pid} calls {call}",
    }
    return why.get(e.why, f"child {e.pid} called {call}")


def _wait_returned(e) -> str:
    if e.call == "wait":
        return f"{'parent ' + str(e.waiter) + ': ' if e.by == 'parent' else ''}wait() reaped {e.pid}: " \
               f"{wait_status_long(e.status)}"
    where = "the SIGCHLD handler of " if e.by == "handler" else ""
    return (f"{e.call}() returned ({e.pid}, {e.status}) in {where}{e.waiter}: pid {e.pid} reaped, "
            f"{wait_status_long(e.status)}")


def _supervisor_reaped(e) -> str:
    said = wait_status_long(e.status)
    if e.adopted_from is not None and e.was_zombie:
        return (f"parent {e.adopted_from} exited: zombie {e.pid} was adopted by the sandbox supervisor {e.reaper} "
                f"(a child subreaper), which called wait(): wait() reaped {e.pid}: {said}")
    if e.adopted_from is not None:
        return (f"{e.pid} lost its parent {e.adopted_from} and was adopted by the sandbox supervisor {e.reaper} "
                f"(a child subreaper); wait() reaped {e.pid}: {said}")
    if e.role == "root":
        return f"the supervisor's wait() reaped {e.pid}, its exited child: {said}"
    if e.role == "parent":
        return f"parent {e.pid} exited; the supervisor's wait() reaped it: {said}"
    return f"demo {e.pid} ({e.recipe}) ended; the supervisor's wait() reaped it: {said}"


def _signal_sent(e) -> str:
    if e.sender == e.target and e.signal == "SIGSTOP":
        return f"{e.target} sends itself SIGSTOP: stopped (T) until someone sends SIGCONT"
    if e.zombie:
        return (f"sent SIGKILL to zombie {e.target}: nothing happens, a zombie is already dead; only its "
                f"parent's wait(), or the parent's exit, removes it")
    if e.signal == "SIGSTOP":
        return f"sent SIGSTOP to {e.target}: it is stopped (T) until SIGCONT"
    if e.signal == "SIGCONT":
        return f"sent SIGCONT to {e.target}: a stopped process runs again"
    return f"sent {e.signal} to {e.target}" + (f" ({e.recipe} demo)" if e.recipe else "")


def _supervisor_died(e) -> str:
    how = f"killed by signal {-e.status}" if e.status < 0 else f"exit status {e.status}"
    return (f"the sandbox supervisor {e.pid} died ({how}); its demos die with it (each has a death signal "
            f"and a self-destruct timer)")


def _safety_net(e) -> str:
    if e.net == "pdeathsig":
        return (f"{e.pid} died with its parent {e.parent}: its death signal (PR_SET_PDEATHSIG) fired, a safety net "
                f"of the sandbox; processes are otherwise independent")
    return f"{e.pid} ended by its self-destruct timer (SIGALRM), a safety net of the sandbox"


def _demo_started(e) -> str:
    extra = _DEMO_STARTED.get(e.recipe)
    tail = "; " + extra.format(value=e.value) if extra else ""
    return f"demo {e.pid} started: getpid() = {e.pid}, getppid() = {e.getppid} (the sandbox supervisor){tail}"


def _ran_first(e) -> str:
    first, second = ("child", "parent") if e.child_ns < e.parent_ns else ("parent", "child")
    gap = abs(e.parent_ns - e.child_ns) / 1000
    return (f"fork #{e.n} (parent {e.parent}, child {e.child}): the {first} read the clock first, {gap:.0f} µs "
            f"before the {second}")


def _cpu_share(e) -> str:
    total = e.on_cpu_ns + e.waiting_ns
    share = 100 * e.on_cpu_ns / total if total else 0
    return (f"{e.pid} on CPU {e.cpu}: {e.on_cpu_ns / 1e9:.2f} s on a CPU, {e.waiting_ns / 1e9:.2f} s ready in the "
            f"run queue in {e.seconds:g} s ({share:.0f} % running)")


SANDBOX_PHRASES = {
    "SupervisorStarted": lambda e: (f"sandbox supervisor {e.pid} started in its own session; it is a child "
                                    f"subreaper, so it adopts and reaps any orphaned demo"),
    "SupervisorStopping": lambda e: (f"sandbox supervisor {e.pid} stopped all demos and exits: "
                                     + _STOP_REASONS.get(e.reason, "{detail}").format(detail=e.detail)),
    "SupervisorDied": _supervisor_died,
    "DemoStarted": _demo_started,
    "ForkReturned": _fork_returned,
    "ForkFailed": lambda e: (f"os.fork() in {e.pid} raised {e.error} ({e.errno}): user {e.uid} has "
                             f"{plural(e.user_procs, 'process', 'processes')} and RLIMIT_NPROC is {e.limit}. Python never returns a negative pid: "
                             f"a failed fork is an exception, caught with try/except"),
    "ExitCalled": _exit_called,
    "ExitCaught": lambda e: (f"{e.pid} caught SystemExit from sys.exit({_arg(e.arg)}) and lives on: sys.exit() "
                             f"only raises an exception"),
    "OutputRead": lambda e: (f"{e.reader} read {e.pid}'s {e.stream}: {e.text!r}" if e.text else
                             f"{e.reader} read nothing from {e.pid}'s {e.stream}: the unflushed output was lost"),
    "WaitCalled": lambda e: f"parent {e.pid} calls {e.call}()",
    "WaitReturned": _wait_returned,
    "WaitFailed": lambda e: (f"os.wait() in {e.pid} raised ChildProcessError ({e.errno}): "
                             + ("with SIGCHLD ignored the kernel reaped the child itself: no zombie, nothing to "
                                "wait for" if e.why == "sig_ign" else "no child left to wait for")),
    "ZombieLeft": lambda e: (f"the parent did not call wait(): {e.pid} is a zombie (Z); its exit status "
                             f"{e.exit_code} waits in the process table"),
    "ZombieCost": lambda e: (f"parent {e.parent} has {e.zombies} zombie children: each still holds a PID "
                             f"({e.pids_in_use} in use of pid_max {e.pid_max}) and counts against the user's "
                             f"processes ({e.user_procs} of RLIMIT_NPROC "
                             f"{'unlimited' if e.nproc_limit < 0 else e.nproc_limit})"),
    "SignalSent": _signal_sent,
    "Continued": lambda e: f"{e.pid} got SIGCONT and runs again; now it sleeps (S)",
    "Adopted": lambda e: (f"parent {e.old_parent} exited: {e.pid} is an orphan, adopted by "
                          + _ADOPTERS.get(e.by, "{adopter}").format(adopter=e.adopter)
                          + f"; getppid() now returns {e.adopter}"),
    "ParentLingers": lambda e: (f"parent {e.pid} will exit in {e.seconds:g} s, before its child {e.child} ends: "
                                f"watch the child move"),
    "HandlerSet": lambda e: (f"{e.pid} set a SIGCHLD handler that calls os.waitpid(-1, os.WNOHANG) until no "
                             f"child is left" if e.how == "handler" else
                             f"{e.pid} set SIGCHLD to SIG_IGN: the kernel reaps its children, no zombie is left"),
    "DoubleFork": lambda e: (f"double fork: middle process {e.middle} exits at once, so its child {e.grandchild} "
                             f"is orphaned and adopted; the first parent only reaps the short-lived middle"),
    "MainThreadExit": lambda e: (f"the main thread of {e.pid} calls pthread_exit(): ps shows Z for it, yet "
                                 f"{e.threads} threads still run (Zl): the process is not dead and no wait() is due"),
    "Traced": lambda e: (f"child {e.pid} called ptrace(PTRACE_TRACEME): its parent {e.tracer} is now its tracer; "
                         f"it sends itself SIGSTOP"),
    "TracedStop": lambda e: (f"tracer {e.tracer}: waitpid() saw {e.pid} stop ({e.signal}); it does not resume it, "
                             f"so {e.pid} stays traced (t)" if e.first else
                             f"tracer {e.tracer}: {e.pid} got {e.signal} while traced; the tracer decides, and "
                             f"keeps it stopped"),
    "VforkWait": lambda e: (f"{e.pid} calls clone(CLONE_VFORK) without CLONE_VM: it waits in D until its child "
                            f"exits, a killable wait (SIGKILL or a fatal signal still ends it at once)"),
    "LoginTty": lambda e: (f"child {e.pid} called login_tty(): it leads session {e.pid}, {e.tty} is its "
                           f"controlling terminal, and its process group is the terminal's foreground group (+)"),
    "VariableSeen": lambda e: f"{e.pid} reads {e.name} = {e.value} at virtual address {e.address:#x}",
    "MemoryShared": lambda e: (f"{e.pid} {'before' if e.moment == 'before' else 'after'} writing {e.written_kb} kB: "
                               f"{e.shared_kb} kB still shared with its parent, {e.private_kb} kB its own copies "
                               f"(copy-on-write, /proc/{e.pid}/smaps_rollup)"),
    "RanFirst": _ran_first,
    "Busy": lambda e: (f"{e.processes} busy processes on {e.cpus} CPUs: "
                       + ("parallel, each can have a CPU of its own" if e.processes <= e.cpus else
                          "more than CPUs: concurrent, they take turns in time slices")),
    "CpuShare": _cpu_share,
    "Exec": lambda e: f"{e.pid} ({e.old_name}) calls exec: same pid {e.pid}, new program {e.program}",
    "SubreaperFlag": lambda e: (f"the supervisor {e.pid} " + (
        "is a child subreaper again" if e.on else
        f"clears its child subreaper flag for demo {e.demo}: its orphan goes to init or a subreaper above")),
    "KilledAll": lambda e: (f"the supervisor reaped them all: no demo left ({e.processes} were live)" if e.done
                            else f"kill all: SIGKILL to every process in the sandbox ({e.processes} demo processes)"),
    "SupervisorReaped": _supervisor_reaped,
    "SafetyNet": _safety_net,
}


ROLE_WORDS = {"parent": "parent", "child": "child", "orphan": "orphan", "exec": "exec", "demo": "demo"}


def snippet_legend(roles: list[str]) -> str:
    """The gutter's key above a demo's snippet: 'P parent · C child: the lines each one runs'."""
    keys = " · ".join(f"{role[0].upper()} {ROLE_WORDS.get(role, role)}" for role in roles)
    return f"{keys}: the lines each one runs"


def sandbox_line(event: NamedTuple) -> str:
    """One line of narration for one sandbox story event (procwatch.sandbox.protocol.STORY)."""
    phrase = SANDBOX_PHRASES.get(type(event).__name__)
    return phrase(event) if phrase is not None else f"{type(event).__name__} {tuple(event)}"
