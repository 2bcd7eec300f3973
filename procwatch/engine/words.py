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
    """A wait() status in words: 768 -> 'exit 3', 9 -> 'killed by SIGKILL'; negative: not known (ps gives none)."""
    if status < 0:
        return "exit status unknown"
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


# ---- fleet: other machines over ssh (procwatch.engine.remote, procwatch --host)

# (what ssh says on stderr, lower-cased) -> one line for the user; the first match wins
SSH_FAILURES = (
    ("host key verification failed", "the host key is unknown or has changed (Host key verification failed): "
     "connect once with ssh to check and accept it, or fix known_hosts"),
    ("remote host identification has changed", "the host key has changed: fix known_hosts after checking why"),
    ("permission denied", "authentication failed (permission denied): no key or agent ssh could use without asking"),
    ("too many authentication failures", "authentication failed (too many authentication failures)"),
    ("could not resolve hostname", "cannot resolve the host name"),
    ("name or service not known", "cannot resolve the host name"),
    ("connection refused", "connection refused: no ssh server listens on that port"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "no route to host (network is unreachable)"),
    ("connection timed out", "connection timed out"),
    ("operation timed out", "connection timed out"),
    ("connection closed by", "the server closed the connection"),
    ("can't open user config file", "cannot read the ssh config file"),
    ("bad configuration option", "the ssh config file has a bad option"),
)
REMOTE_NOTHING_TO_RUN = "neither python3 nor ps could be run on the remote"
REMOTE_NO_ANSWER = "the remote sent no processes in time"
REMOTE_SIGNAL_NEEDS_PYTHON = "signals on a remote need Python 3.10 there (read with ps, no identity check)"
REMOTE_NOT_CONNECTED = "the host is not connected"
REMOTE_NO_REPLY = "the remote did not answer"
PS_FALLBACK_LOSSES = ("the exit status a zombie's parent has not collected", "how much memory is locked (only the L flag)",
                      "start times finer than a second", "the kernel's name (comm: taken from argv)", "signals")


def ps_fallback_note(too_old: bool) -> str:
    why = "the remote's python3 is older than 3.10" if too_old else "no python3 on the remote"
    return f"{why}: read with ps; lost: {', '.join(PS_FALLBACK_LOSSES)}"


def ssh_said(line: str) -> str:
    return f"ssh: {line}"


def ssh_killed(signal_name: str) -> str:
    return f"ssh ended by {signal_name}"


def ssh_ended(status: int | None) -> str:
    return "the connection ended" if not status else f"ssh ended with status {status}"


def ssh_cannot_start(program: str, why: str) -> str:
    return f"cannot run {program}: {why}"


def remote_disconnected(why: str) -> str:
    return f"disconnected: {why}"


HOST_STATES = {"connecting": "connecting", "connected": "connected", "disconnected": "disconnected",
               "closed": "closed"}


def host_line(label: str, status: object) -> str:
    """The line naming the host above its tree (status: a remote.HostStatus)."""
    state = getattr(status, "state", "")
    line = f"host {label} · {HOST_STATES.get(state, state)}"
    mode, python, reason = getattr(status, "mode", ""), getattr(status, "python", ""), getattr(status, "reason", "")
    if state == "connected":
        line += f", python {python}" if mode == "python" else ", ps"
    elif reason:
        line += f": {reason}"
    return line + " · sandbox: local only"


def host_failed(label: str, reason: str) -> str:
    return f"{label}: {reason}"


SANDBOX_LOCAL_ONLY = "the sandbox is local only: demos fork on this machine, not on a remote host"


def fleet_state(state: str, mode: str, reason: str, retry_in: float | None) -> str:
    if state == "connected":
        return "connected" + (" (ps: no python3)" if mode == "ps" else "")
    if state == "disconnected":
        retry = f"; retry in {retry_in:.0f}s" if retry_in is not None else ""
        return f"disconnected: {reason}{retry}"
    return HOST_STATES.get(state, state)


def fleet_age(seconds: float | None) -> str:
    """How long ago the host's last snapshot arrived."""
    return "-" if seconds is None else f"{seconds:.0f}s" if seconds < 100 else format_duration(seconds)


def fleet_title(hosts: int, sort: str) -> str:
    return (f"fleet: {hosts} host{'s' if hosts != 1 else ''} · sorted by {sort} (s) · Enter: its tree, Esc: back "
            f"· sandbox: local only")


def fleet_host_detail(label: str, state: str, python: str) -> str:
    """Under the fleet table, for the highlighted host: its state in full (the table cuts long reasons)."""
    return f"{label}: {state}" + (f" · python {python}" if python else "")


def master_prompt(label: str) -> str:
    """Before ssh asks on the terminal (a password, a passphrase, a host key), ahead of the TUI."""
    return f"procwatch: {label}: ssh needs an answer (a host key, a password, a passphrase) before the fleet view starts"
