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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

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
    """A wait() status in words: 768 -> 'exit 3', 9 -> 'killed by SIGKILL'; negative: not known (ps gives none)."""
    if status < 0:
        return t("status.unknown")
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
        if event.changes > 1:  # the event log's entry for a process whose thread count keeps changing
            return t("event.threads_coalesced", who=who(pid), old=event.old, new=event.new, changes=event.changes,
                     since=clock(event.at if event.since is None else event.since))
        return t("event.threads", who=who(pid), old=event.old, new=event.new)
    if isinstance(event, BecameZombie):
        return t("event.zombie", who=who(pid), status=wait_status(event.exit_code), parent=who(event.parent))
    if isinstance(event, Reparented):
        kind = t("orphan.init" if event.adopter_is_init else "orphan.subreaper")
        return t("event.reparented", who=who(pid), old=event.old_parent, new=who(event.new_parent), kind=kind)
    if isinstance(event, Reaped):
        return t("event.reaped", who=process_label(pid, event.name), status=wait_status(event.exit_code))
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


# ---- --check: monitoring-plugins output stays English whatever the language (monitoring systems parse it)


def check_status_line(status_name: str, count: int, what: str, worst: tuple[int, str, int] | None,
                      per_parent: bool, min_age: float | None, perfdata: str) -> str:
    """The one line of a monitoring check: 'PROCS WARNING: 2 processes with state Z; worst parent 4242 (python3)
    has 2 | procs=2;0;10;0; ...'. `what` describes the filters ('' for every process); names already escaped."""
    line = f"PROCS {status_name}: {count} process{plural_s(count, 'es')}"
    if what:
        line += f" with {what}"
    if min_age is not None:
        line += f", in that state for at least {format_duration(min_age)}"
    if worst is not None and (per_parent or count):
        pid, name, children = worst
        line += f"; worst parent {pid} ({name}) has {children}"
    return f"{line} | {perfdata}"


def check_unknown(reason: str) -> str:
    return f"PROCS UNKNOWN: {reason}"


def describe_filter_for_check(users: str, states: str, text: str, units: str, cgroup: str) -> str:
    parts = []
    if users:
        parts.append(f"user {users}")
    if states:
        parts.append(f"state {states}")
    if text:
        parts.append(f"text {text!r}")
    if units:
        parts.append(f"unit {units}")
    if cgroup:
        parts.append(f"cgroup {cgroup!r}")
    return " and ".join(parts)


def watch_started(count: int) -> str:
    return t("watch.started", count=count)


def snapshot_phrase(total: int, states: Mapping[str, int]) -> str:
    """`--watch --snapshots` without --json: '87 processes: 80 S, 2 R, 1 Z'."""
    counts = ", ".join(f"{n} {letter}" for letter, n in sorted(states.items(), key=lambda item: -item[1]))
    return t("watch.snapshot", total=total, counts=counts)


def comm_marker(name: str) -> str:
    """Shown after a command line when the process renamed itself (comm is not argv[0]'s name), as htop does."""
    return t("marker.comm", name=name)



def threads_capped(left_out: int) -> str:
    return t("notice.threads_capped", count=left_out, es=plural_s(left_out, "es"))
# ---- sandbox events
# The sandbox (procwatch.sandbox.protocol) sends typed story events, never sentences: one phrase per event class
# (message ids `story.<Class>[.<variant>]` in the catalogue), fields read by name.

_DEMO_STARTED = ("R", "S", "N", "<", "L", "s", "l", "Zl")


def _arg(value: object) -> str:
    return "" if value is None else repr(value)


def _fork_returned(e: Any) -> str:
    if e.side == "child":
        return t("story.ForkReturned.child", call=e.call, getpid=e.getpid, getppid=e.getppid)
    return t("story.ForkReturned.parent", call=e.call, returned=e.returned, getpid=e.getpid)


def _exit_called(e: Any) -> str:
    call = f"{e.call}({_arg(e.arg)})"
    if e.why == "zombie_left":
        lost = t("story.ExitCalled.zombie_lost", other=e.other) if e.other else t("story.ExitCalled.zombies_lost")
        return t("story.ExitCalled.zombie_left", pid=e.pid, call=call, lost=lost)
    why = e.why if e.why in ("cpu_budget", "no_child_left", "before_child", "after_wait") else "child"
    return t(f"story.ExitCalled.{why}", pid=e.pid, call=call, other=e.other)


def _wait_returned(e: Any) -> str:
    status = wait_status_long(e.status)
    if e.call == "wait":
        if e.by == "parent":
            return t("story.WaitReturned.parent", waiter=e.waiter, pid=e.pid, status=status)
        return t("story.WaitReturned.wait", pid=e.pid, status=status)
    where = t("story.WaitReturned.handler") if e.by == "handler" else ""
    return t("story.WaitReturned.call", call=e.call, pid=e.pid, raw=e.status, where=where, waiter=e.waiter,
             status=status)


def _supervisor_reaped(e: Any) -> str:
    fields = {"pid": e.pid, "reaper": e.reaper, "old": e.adopted_from, "recipe": e.recipe,
              "status": wait_status_long(e.status)}
    if e.adopted_from is not None:
        return t("story.SupervisorReaped.adopted_zombie" if e.was_zombie else "story.SupervisorReaped.adopted",
                 **fields)
    role = e.role if e.role in ("root", "parent") else "demo"
    return t(f"story.SupervisorReaped.{role}", **fields)


def _signal_sent(e: Any) -> str:
    if e.sender == e.target and e.signal == "SIGSTOP":
        return t("story.SignalSent.self_stop", target=e.target)
    if e.zombie:
        return t("story.SignalSent.zombie", target=e.target)
    if e.signal in ("SIGSTOP", "SIGCONT"):
        return t(f"story.SignalSent.{e.signal}", target=e.target)
    demo = t("story.SignalSent.demo", recipe=e.recipe) if e.recipe else ""
    return t("story.SignalSent.other", signal=e.signal, target=e.target, demo=demo)


def _supervisor_died(e: Any) -> str:
    how = (t("story.SupervisorDied.signal", signal=-e.status) if e.status < 0
           else t("story.SupervisorDied.exit", status=e.status))
    return t("story.SupervisorDied", pid=e.pid, how=how)


def _demo_started(e: Any) -> str:
    tail = t(f"story.DemoStarted.{e.recipe}", value=e.value) if e.recipe in _DEMO_STARTED else ""
    return t("story.DemoStarted", pid=e.pid, getppid=e.getppid, tail=tail)


def _ran_first(e: Any) -> str:
    child_first = e.child_ns < e.parent_ns
    return t("story.RanFirst.child" if child_first else "story.RanFirst.parent", n=e.n, parent=e.parent,
             child=e.child, gap=f"{abs(e.parent_ns - e.child_ns) / 1000:.0f}")


def _cpu_share(e: Any) -> str:
    total = e.on_cpu_ns + e.waiting_ns
    return t("story.CpuShare", pid=e.pid, cpu=e.cpu, on_cpu=f"{e.on_cpu_ns / 1e9:.2f}",
             waiting=f"{e.waiting_ns / 1e9:.2f}", seconds=f"{e.seconds:g}",
             share=f"{100 * e.on_cpu_ns / total if total else 0:.0f}")


def _stopping(e: Any) -> str:
    reason = e.reason if e.reason in ("pipe", "close", "signal", "lifetime", "early", "stdout") else "error"
    return t("story.SupervisorStopping", pid=e.pid, reason=t(f"story.stop.{reason}", detail=e.detail))


def _adopted(e: Any) -> str:
    by = e.by if e.by in ("supervisor", "init", "subreaper") else "other"
    return t("story.Adopted", old=e.old_parent, pid=e.pid, adopter=t(f"story.adopter.{by}", adopter=e.adopter),
             new=e.adopter)


SANDBOX_PHRASES: dict[str, Any] = {
    "SupervisorStarted": lambda e: t("story.SupervisorStarted", pid=e.pid),
    "SupervisorStopping": _stopping,
    "SupervisorDied": _supervisor_died,
    "DemoStarted": _demo_started,
    "ForkReturned": _fork_returned,
    "ForkFailed": lambda e: t("story.ForkFailed", pid=e.pid, error=e.error, errno=e.errno, uid=e.uid,
                              procs=e.user_procs, es=plural_s(e.user_procs, "es"), limit=e.limit),
    "ExitCalled": _exit_called,
    "ExitCaught": lambda e: t("story.ExitCaught", pid=e.pid, arg=_arg(e.arg)),
    "OutputRead": lambda e: (t("story.OutputRead", reader=e.reader, pid=e.pid, stream=e.stream, text=repr(e.text))
                             if e.text else t("story.OutputRead.lost", reader=e.reader, pid=e.pid, stream=e.stream)),
    "WaitCalled": lambda e: t("story.WaitCalled", pid=e.pid, call=e.call),
    "WaitReturned": _wait_returned,
    "WaitFailed": lambda e: t("story.WaitFailed.sig_ign" if e.why == "sig_ign" else "story.WaitFailed",
                              pid=e.pid, errno=e.errno),
    "ZombieLeft": lambda e: t("story.ZombieLeft", pid=e.pid, exit_code=e.exit_code),
    "ZombieCost": lambda e: t("story.ZombieCost", parent=e.parent, zombies=e.zombies, pids=e.pids_in_use,
                              pid_max=e.pid_max, procs=e.user_procs,
                              limit=t("story.unlimited") if e.nproc_limit < 0 else e.nproc_limit),
    "SignalSent": _signal_sent,
    "Continued": lambda e: t("story.Continued", pid=e.pid),
    "Adopted": _adopted,
    "ParentLingers": lambda e: t("story.ParentLingers", pid=e.pid, seconds=f"{e.seconds:g}", child=e.child),
    "HandlerSet": lambda e: t("story.HandlerSet.handler" if e.how == "handler" else "story.HandlerSet.ignore",
                              pid=e.pid),
    "DoubleFork": lambda e: t("story.DoubleFork", middle=e.middle, grandchild=e.grandchild),
    "MainThreadExit": lambda e: t("story.MainThreadExit", pid=e.pid, threads=e.threads),
    "Traced": lambda e: t("story.Traced", pid=e.pid, tracer=e.tracer),
    "TracedStop": lambda e: t("story.TracedStop.first" if e.first else "story.TracedStop", tracer=e.tracer,
                              pid=e.pid, signal=e.signal),
    "VforkWait": lambda e: t("story.VforkWait", pid=e.pid),
    "LoginTty": lambda e: t("story.LoginTty", pid=e.pid, tty=e.tty),
    "VariableSeen": lambda e: t("story.VariableSeen", pid=e.pid, name=e.name, value=e.value,
                                address=f"{e.address:#x}"),
    "MemoryShared": lambda e: t("story.MemoryShared.before" if e.moment == "before" else "story.MemoryShared.after",
                                pid=e.pid, written=e.written_kb, shared=e.shared_kb, private=e.private_kb),
    "RanFirst": _ran_first,
    "Busy": lambda e: t("story.Busy.parallel" if e.processes <= e.cpus else "story.Busy.concurrent",
                        processes=e.processes, cpus=e.cpus),
    "CpuShare": _cpu_share,
    "Exec": lambda e: t("story.Exec", pid=e.pid, old_name=e.old_name, program=e.program),
    "SubreaperFlag": lambda e: t("story.SubreaperFlag.on" if e.on else "story.SubreaperFlag.off", pid=e.pid,
                                 demo=e.demo),
    "KilledAll": lambda e: t("story.KilledAll.done" if e.done else "story.KilledAll", processes=e.processes),
    "SupervisorReaped": _supervisor_reaped,
    "SafetyNet": lambda e: t("story.SafetyNet.pdeathsig" if e.net == "pdeathsig" else "story.SafetyNet.alarm",
                             pid=e.pid, parent=e.parent),
}


ROLES = ("parent", "child", "orphan", "exec", "demo")


def role_word(role: str) -> str:
    return t(f"role.{role}") if role in ROLES else role


DEMO_FACTS = "sandbox.proc."  # the catalogue ids a demo process may say of itself (over the sandbox's pipe)


def demo_fact(says: str, fields: Mapping[str, object]) -> str:
    """What one demo process is, beyond its recipe's description, in the current language: the phrase `says`
    (a catalogue id of the DEMO_FACTS family, sent by the sandbox with its values) filled with `fields`.
    "" when it says nothing; a neutral phrase when the id is not one of ours or the fields do not fit it."""
    if not says:
        return ""
    if says.startswith(DEMO_FACTS):
        try:
            return t(says, **fields) if fields else t(says).format()  # (t() leaves a template without fields as is)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            pass  # not in the catalogue, a field missing, a value its format cannot take
    return t("sandbox.proc.unknown")


def snippet_legend(roles: list[str]) -> str:
    """The gutter's key above a demo's snippet: 'P parent · C child: the lines each one runs'."""
    return t("snippet.legend", keys=" · ".join(f"{role[0].upper()} {role_word(role)}" for role in roles))


def sandbox_line(event: NamedTuple) -> str:
    """One line of narration for one sandbox story event (procwatch.sandbox.protocol.STORY)."""
    phrase = SANDBOX_PHRASES.get(type(event).__name__)
    return phrase(event) if phrase is not None else f"{type(event).__name__} {tuple(event)}"


# ---- settings, remembered state, read-only


def state_unusable(path: str, reason: str, aside: str | None, rename_error: str | None) -> str:
    """A damaged or unreadable state file: procwatch starts from its defaults and says what it did."""
    if aside is not None:
        return t("state.unusable", path=path, reason=reason, aside=aside)
    return t("state.unusable_kept", path=path, reason=reason, error=rename_error)


def state_not_saved(path: str, reason: str) -> str:
    return t("state.not_saved", path=path, reason=reason)


def remembered_theme_gone(theme: str) -> str:
    return t("state.theme_gone", theme=repr(theme))





# ---- fleet: other machines over ssh (procwatch.engine.remote, procwatch --host)

# (what ssh says on stderr, lower-cased) -> the message id of one line for the user; the first match wins
SSH_FAILURES = (
    ("host key verification failed", "ssh.host_key_unknown"),
    ("remote host identification has changed", "ssh.host_key_changed"),
    ("permission denied", "ssh.denied"),
    ("too many authentication failures", "ssh.too_many"),
    ("could not resolve hostname", "ssh.resolve"),
    ("name or service not known", "ssh.resolve"),
    ("connection refused", "ssh.refused"),
    ("no route to host", "ssh.no_route"),
    ("network is unreachable", "ssh.unreachable"),
    ("connection timed out", "ssh.timed_out"),
    ("operation timed out", "ssh.timed_out"),
    ("connection closed by", "ssh.closed"),
    ("can't open user config file", "ssh.config_unreadable"),
    ("bad configuration option", "ssh.config_bad"),
)








def ps_fallback_note(too_old: bool) -> str:
    return t("remote.ps_fallback", why=t("remote.python_old" if too_old else "remote.python_none"))


def ssh_said(line: str) -> str:
    return t("ssh.said", line=line)


def ssh_killed(signal_name: str) -> str:
    return t("ssh.killed", signal=signal_name)


def ssh_ended(status: int | None) -> str:
    return t("ssh.ended") if not status else t("ssh.ended_status", status=status)


def ssh_cannot_start(program: str, why: str) -> str:
    return t("ssh.cannot_start", program=program, why=why)


def remote_disconnected(why: str) -> str:
    return t("remote.disconnected", why=why)


HOST_STATES = ("connecting", "connected", "disconnected", "closed")


def host_state_word(state: str) -> str:
    return t(f"host.{state}") if state in HOST_STATES else state


def host_line(label: str, status: object) -> str:
    """The line naming the host above its tree (status: a remote.HostStatus)."""
    state = getattr(status, "state", "")
    line = t("host.line", label=label, state=host_state_word(state))
    mode, python, reason = getattr(status, "mode", ""), getattr(status, "python", ""), getattr(status, "reason", "")
    if state == "connected":
        line += t("host.python", python=python) if mode == "python" else t("host.ps")
    elif reason:
        line += f": {reason}"
    return line + t("host.local_sandbox")


def host_failed(label: str, reason: str) -> str:
    return f"{label}: {reason}"



def fleet_state(state: str, mode: str, reason: str, retry_in: float | None) -> str:
    if state == "connected":
        return host_state_word(state) + (t("host.ps_no_python") if mode == "ps" else "")
    if state == "disconnected":
        retry = t("host.retry", seconds=f"{retry_in:.0f}") if retry_in is not None else ""
        return t("host.disconnected_why", reason=reason, retry=retry)
    return host_state_word(state)


def fleet_age(seconds: float | None) -> str:
    """How long ago the host's last snapshot arrived."""
    return "-" if seconds is None else f"{seconds:.0f}s" if seconds < 100 else format_duration(seconds)


def fleet_title(hosts: int, sort: str) -> str:
    return t("host.title", hosts=hosts, s=plural_s(hosts), sort=sort)


def fleet_host_detail(label: str, state: str, python: str) -> str:
    """Under the fleet table, for the highlighted host: its state in full (the table cuts long reasons)."""
    return f"{label}: {state}" + (t("host.detail_python", python=python) if python else "")


def master_prompt(label: str) -> str:
    """Before ssh asks on the terminal (a password, a passphrase, a host key), ahead of the TUI."""
    return t("host.master_prompt", label=label)


# ---- --watch and --check across hosts

def host_event_line(label: str, event: Event, names: Mapping[int, str]) -> str:
    """`--watch --host` without --json: the local line with the host after the clock."""
    return f"{clock(event.at)}  {label}: {event_words(event, names)}"


def watch_host_state(label: str, at: float, state: str, mode: str, python: str, reason: str,
                     retry_in: float | None) -> str:
    """`--watch --host` without --json: 'web1: connected, python 3.11.2' or 'web1: disconnected: ...; retry in 2s'."""
    if state == "connected":
        said = host_state_word(state) + (t("host.python", python=python) if mode == "python" else t("host.ps"))
    else:
        said = fleet_state(state, mode, reason, retry_in)
    return f"{clock(at)}  {label}: {said}"


def watch_host_started(label: str, at: float, count: int) -> str:
    return f"{clock(at)}  {label}: {watch_started(count)}"


def check_hosts_status_line(status_name: str, count: int, what: str, per_host: Sequence[tuple[str, int]],
                            hosts_read: int, worst: tuple[str, int, str, int] | None, per_parent: bool,
                            min_age: float | None, unreachable: Sequence[tuple[str, str]], perfdata: str) -> str:
    """`--check --host`: 'PROCS WARNING: 5 processes with state Z on 2 hosts (web1 3, web2 2); worst parent 4242
    (python3) on web1 has 3; cannot reach web3 (connection refused) | ...'. Names and labels already escaped."""
    if not hosts_read:
        return f"PROCS {status_name}: cannot reach " + _some(f"{label} ({why})" for label, why in unreachable)
    line = f"PROCS {status_name}: {count} process{plural_s(count, 'es')}"
    if what:
        line += f" with {what}"
    if min_age is not None:
        line += f", in that state for at least {format_duration(min_age)}"
    line += f" on {hosts_read} host{plural_s(hosts_read)}"
    counted = [(label, n) for label, n in per_host if n]
    if counted and (len(per_host) > 1 or unreachable):
        line += " (" + _some(f"{label} {n}" for label, n in counted) + ")"
    if worst is not None and (per_parent or count):
        label, pid, name, children = worst
        line += f"; worst parent {pid} ({name}) on {label} has {children}"
    if unreachable:
        line += "; cannot reach " + _some(f"{label} ({why})" for label, why in unreachable)
    return f"{line} | {perfdata}"


def _some(items: Iterable[str], most: int = 10) -> str:
    """At most `most` items, comma-separated, then how many more (a status line stays readable)."""
    items = list(items)
    more = f", and {len(items) - most} more" if len(items) > most else ""
    return ", ".join(items[:most]) + more
