"""ps STAT codes: compose them exactly as procps `ps -o stat` does, and explain them in words.

Order and rules follow procps-ng ps/output.c (pr_stat): the state letter, then `<` (nice < 0), `N` (nice > 0),
`L` (locked pages), `s` (session leader), `l` (multithreaded), `+` (in the terminal's foreground group).
"""

from __future__ import annotations

import signal
from typing import NamedTuple

from procwatch.model import ProcInfo

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
# One word per state, for JSON and compact labels.
STATE_NAMES = {"R": "running", "S": "sleeping", "D": "disk-sleep", "T": "stopped", "t": "traced", "Z": "zombie",
               "X": "dead", "I": "idle", "W": "paging", "P": "parked", "K": "wakekill"}
# Letters a --state filter accepts: those ps documents for Linux.
STATE_LETTERS = "RSDTtZXI"

FLAG_WORDS = {
    "<": "high priority (nice {nice})",
    "N": "low priority (nice {nice})",
    "L": "has pages locked in memory ({locked_kb} kB)",
    "s": "session leader",
    "l": "multithreaded ({threads} threads)",
    "+": "in the foreground process group of its terminal",
}


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


def format_stat(p: ProcInfo) -> str:
    """The STAT column exactly as `ps -o stat` prints it."""
    out = p.state
    if p.nice < 0:
        out += "<"
    elif p.nice > 0:
        out += "N"
    if p.locked_kb:
        out += "L"
    if p.session == p.pid:
        out += "s"
    if p.threads > 1:
        out += "l"
    if p.pgrp == p.tpgid:
        out += "+"
    return out


def describe_stat(p: ProcInfo) -> list[str]:
    """One phrase per STAT character, in ps order, e.g. ['S: sleeping ...', 'N: low priority (nice 5)']."""
    stat = format_stat(p)
    phrases = [f"{stat[0]}: {STATE_WORDS.get(stat[0], 'unknown state')}"]
    for flag in stat[1:]:
        phrases.append(f"{flag}: " + FLAG_WORDS[flag].format(nice=p.nice, locked_kb=p.locked_kb, threads=p.threads))
    return phrases


def stat_summary(p: ProcInfo) -> str:
    """`SNs` -> 'sleeping (interruptible wait) · low priority (nice 5) · session leader'."""
    return " · ".join(phrase.split(": ", 1)[1] for phrase in describe_stat(p))


def decode_wait_status(status: int) -> str:
    """A wait() status in words: 768 -> 'exit 3', 9 -> 'killed by SIGKILL'."""
    if status & 0x7F == 0:
        return f"exit {(status >> 8) & 0xFF}"
    if status == 0xFFFF:
        return "continued"
    if status & 0xFF == 0x7F:
        return f"stopped by {_signal_name((status >> 8) & 0xFF)}"
    return f"killed by {_signal_name(status & 0x7F)}" + (" (core dumped)" if status & 0x80 else "")


def _signal_name(signo: int) -> str:
    try:
        return signal.Signals(signo).name
    except ValueError:
        return f"signal {signo}"
