"""Phrases about processes made from facts: the facts come from the engine as values (letters, numbers,
NamedTuples), the templates from the catalogue of the current language (procwatch.engine.catalog), and every
formatting of durations, bytes, devices and statuses is here. One wording for the TUI, `--once`, `--watch` and
the narration. Standard library only. Untrusted text (names) is *not* escaped here: callers escape at the edge
they draw on (procwatch.engine.escape.printable).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from typing import NamedTuple

from procwatch.engine.catalog import t
from procwatch.engine.lineage import (
    BecameZombie,
    Event,
    Exec,
    FirstSeen,
    Observations,
    Orphan,
    Reaped,
    Reparented,
    StateChanged,
    ThreadsChanged,
    Zombie,
)
from procwatch.engine.model import NOTE_FOREIGN_PROC, NOTE_HIDEPID, ProcInfo
from procwatch.engine.procfs import CLOCK_TICKS, SignalRefused
from procwatch.engine.stat import StatSource, format_stat

# ---------------------------------------------------------------- STAT letters and flags

STATE_LETTERS_KNOWN = "RSDTtZXIWPK"


def state_word(letter: str) -> str:
    return t(f"state.{letter}") if letter in STATE_LETTERS_KNOWN else t("state.unknown")


def flag_word(flag: str, p: StatSource) -> str:
    return t(f"flag.{flag}", nice=p.nice, locked_kb=p.locked_kb, threads=p.threads)


def flag_legend(flag: str) -> str:
    """The flag's meaning without its numbers, for the legend."""
    return t(f"legend.{flag}")


FLAGS = "<NLsl+"


class ProcessModel(NamedTuple):
    three_state: str  # ready/running, waiting (blocked), or "-" outside the model
    five_state: str  # new, ready, running, waiting, terminated
    note: str
    lit: tuple[str, ...]  # the five-state boxes to light: "new" "ready" "running" "waiting" "terminated"


FIVE_STATES = ("new", "ready", "running", "waiting", "terminated")


def state_model(state: str, threads_alive: bool = False, running: bool | None = None) -> ProcessModel:
    """Where a kernel state sits in the classic three-state and five-state process models (the tutorial's
    就绪态 运行态 等待态, plus 新建态 and 终止态). `threads_alive`: a Z whose other threads still run (Zl) is not
    terminated. `running`: for R, whether it was on a CPU (True) or waiting in the run queue (False) lately."""
    if state == "R":
        if running is None:
            both = t("model.ready_running")
            return ProcessModel(both, both, t("model.note.R"), ("ready", "running"))
        lit = "running" if running else "ready"
        return ProcessModel(t(f"model.{lit}"), t(f"model.{lit}"), t("model.note.R"), (lit,))
    if state in "SDI":
        waiting = t("model.waiting")
        return ProcessModel(waiting, waiting, t(f"model.note.{state}"), ("waiting",))
    if state in "Tt":
        return ProcessModel(t("model.waiting"), t("model.waiting_suspended"), t(f"model.note.{state}"), ("waiting",))
    if state == "Z" and threads_alive:
        both = f"{t('model.ready_running')} / {t('model.waiting')}"
        return ProcessModel(both, both, t("model.note.Zl"), ("ready", "running", "waiting"))
    if state in "ZX":
        return ProcessModel(t("model.outside"), t("model.terminated"), t(f"model.note.{state}"), ("terminated",))
    return ProcessModel(t("model.outside"), t("model.outside"), t("model.note.old"), ())


def describe_stat(p: StatSource) -> list[str]:
    """One phrase per STAT character, in ps order, e.g. ['S: sleeping ...', 'N: low priority (nice 5)']."""
    stat = format_stat(p)
    return [f"{stat[0]}: {state_word(stat[0])}", *(f"{flag}: {flag_word(flag, p)}" for flag in stat[1:])]


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
        return t("status.exit", code=os.WEXITSTATUS(status))
    if os.WIFCONTINUED(status):
        return t("status.continued")
    if os.WIFSTOPPED(status):
        return t("status.stopped", signal=signal_name(os.WSTOPSIG(status)))
    return t("status.killed", signal=signal_name(os.WTERMSIG(status))) + (t("status.core") if os.WCOREDUMP(status) else "")


def wait_status_long(status: int) -> str:
    """The status as the narration shows it, raw number first: 768 -> 'status 768, exit code 3'."""
    if os.WIFEXITED(status):
        return t("status.long_exit", status=status, code=os.WEXITSTATUS(status))
    return t("status.long", status=status, words=wait_status(status))


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


def plural_s(count: int, many: str = "s") -> str:
    """The English plural ending a template may use ({s}); other languages' templates leave it out."""
    return "" if count == 1 else many


def cpu_time_column(ticks: int, hz: int = CLOCK_TICKS) -> str:
    """CPU time as `ps aux` prints its TIME column: minutes:seconds (0:03, 125:07)."""
    seconds = ticks // hz
    return f"{seconds // 60}:{seconds % 60:02d}"


def cpu_time(ticks: int, hz: int = CLOCK_TICKS) -> str:
    """CPU time as ps prints TIME: [DD-]HH:MM:SS."""
    seconds = ticks // hz
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


# ---------------------------------------------------------------- zombies, orphans, markers


def zombie_wait(zombie: Zombie, now: float) -> str:
    """' for at least 1m15s' (empty under a second: 'unreaped for 0s' says nothing)."""
    waited = now - zombie.since
    if waited < 1:
        return ""
    return t("zombie.for", at_least=t("zombie.at_least") if zombie.seen_at_start else "",
             duration=format_duration(waited))


def explain_zombie(zombie: Zombie, parent: int, parent_name: str, now: float) -> str:
    if zombie.threads_alive:
        return t("zombie.threads_alive")
    return t("zombie.short", waited=zombie_wait(zombie, now), status=wait_status(zombie.exit_code),
             parent=process_label(parent, parent_name))


def explain_orphan(orphan: Orphan) -> str:
    adopter = process_label(orphan.adopter, orphan.adopter_name)
    if orphan.evidence == "reparented":
        return t("orphan.reparented", old=process_label(orphan.old_parent or 0, orphan.old_parent_name or ""),
                 adopter=adopter, kind=t("orphan.init" if orphan.adopter_is_init else "orphan.subreaper"))
    return t("orphan.session", adopter=adopter, leader=orphan.session_leader)


def markers(p: ProcInfo, observations: Observations, context: bool = False) -> list[str]:
    """The short words after a command, in the tree and in `--once`; the details panel has the long story."""
    out = []
    zombie = observations.zombies.get(p.pid)
    if zombie is not None:
        if zombie.threads_alive:
            out.append(t("marker.zl"))
        else:
            waited = observations.snapshot.taken_at - zombie.since
            out.append(t("marker.zombie", status=wait_status(zombie.exit_code)) + (
                t("marker.unreaped_for", at_least="≥" if zombie.seen_at_start else "",
                  duration=format_duration(waited)) if waited >= 1 else ""))
    unreaped = observations.unreaped.get(p.pid)
    if unreaped is not None:
        out.append(t("marker.not_reaping", count=unreaped.count, s=plural_s(unreaped.count)))
    orphan = observations.orphans.get(p.pid)
    if orphan is not None:
        if orphan.evidence == "reparented":
            out.append(t("marker.orphan", old=orphan.old_parent, adopter=orphan.adopter))
        else:
            out.append(t("marker.likely_orphan"))
    if p.state in "DTt":
        out.append(t(f"marker.{p.state}"))
    if context:
        out.append(t("marker.context"))
    return out


# ---------------------------------------------------------------- signals and notices


def process_label(pid: int, name: str) -> str:
    return t("signal.label", pid=pid, name=name) if name else str(pid)


def signal_sent(name: str, who: str, zombie: bool = False) -> str:
    return t("signal.zombie" if zombie else "signal.sent", name=name, who=who)


def stop_warning(target: str, pid: int) -> str:
    """Said before SIGSTOP is confirmed for a process that procwatch itself needs. target: "procwatch" or
    "supervisor"."""
    return t("signal.warn_self", pid=pid) if target == "procwatch" else t("signal.warn_supervisor")


def signal_refused(refused: SignalRefused, who: str) -> str:
    if refused.reason in ("gone", "denied", "unproven"):
        return t(f"signal.{refused.reason}", who=who)
    if refused.reason == "reused":
        return t("signal.reused", pid=refused.pid)
    return t("signal.cannot_open", who=who, detail=refused.detail)


def note_words(note: str) -> str:
    """A snapshot's note (a code: values travel, words are made at the edge) in words."""
    if note.startswith(NOTE_HIDEPID):
        return t("note.hidepid", mode=note[len(NOTE_HIDEPID):])
    if note == NOTE_FOREIGN_PROC:
        return t("note.foreign")
    return note


# ---------------------------------------------------------------- events (event log, timeline, --watch)


def clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def event_words(event: Event, names: Mapping[int, str]) -> str:
    """One event in words. `names`: pid -> name of the processes alive now (an ended one names itself)."""
    pid = event.identity[0]

    def who(p: int) -> str:
        return process_label(p, names.get(p, ""))

    if isinstance(event, FirstSeen):
        delay = event.at - event.started
        created = t("event.created", at=clock(event.started), delay=format_duration(delay)) if delay >= 1 else ""
        return t("event.first_seen", who=process_label(pid, event.name), created=created)
    if isinstance(event, Exec):
        return t("event.exec", who=process_label(pid, event.old_name), name=event.new_name)
    if isinstance(event, StateChanged):
        return t("event.state", who=who(pid), old=event.old, new=event.new,
                 model=state_model(event.new).five_state)
    if isinstance(event, ThreadsChanged):
        return t("event.threads", who=who(pid), old=event.old, new=event.new)
    if isinstance(event, BecameZombie):
        return t("event.zombie", who=who(pid), status=wait_status(event.exit_code), parent=who(event.parent))
    if isinstance(event, Reparented):
        kind = t("orphan.init" if event.adopter_is_init else "orphan.subreaper")
        return t("event.reparented", who=who(pid), old=event.old_parent, new=who(event.new_parent), kind=kind)
    if isinstance(event, Reaped):
        return t("event.reaped", who=process_label(pid, event.name))
    return t("event.exited", who=process_label(pid, event.name))


def event_line(event: Event, names: Mapping[int, str]) -> str:
    return f"{clock(event.at)}  {event_words(event, names)}"


def timeline(p: ProcInfo, events: list[Event], ended: str | None = None) -> str:
    """'21:24:07 S → 21:24:09 T → 21:24:10 Z → reaped': the states one process went through, as seen."""
    states = [e for e in events if isinstance(e, StateChanged)]
    first = states[0].old if states else p.state
    parts = [f"{clock(p.started)} {t('model.new')} → {first}"]
    parts += [f"{clock(e.at)} {e.new}" for e in states]
    if ended is not None:
        parts.append(t(f"marker.{ended}"))
    return " → ".join(parts)

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
                             f"{e.user_procs} process{plural_s(e.user_procs, 'es')} and RLIMIT_NPROC is {e.limit}. Python never returns a negative pid: "
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
