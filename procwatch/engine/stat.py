"""ps STAT codes, composed exactly as procps `ps -o stat` does (the words are in procwatch.engine.words).

Order and rules follow procps-ng ps/output.c (pr_stat): the state letter, then `<` (nice < 0), `N` (nice > 0),
`L` (locked pages), `s` (session leader), `l` (multithreaded), `+` (in the terminal's foreground group).
"""

from __future__ import annotations

from typing import Protocol

# One word per state, for JSON (its values stay English) and compact labels.
STATE_NAMES = {"R": "running", "S": "sleeping", "D": "disk-sleep", "T": "stopped", "t": "traced", "Z": "zombie",
               "X": "dead", "I": "idle", "W": "paging", "P": "parked", "K": "wakekill"}
# Letters a --state filter accepts: those ps documents for Linux.
STATE_LETTERS = "RSDTtZXI"


class StatSource(Protocol):
    """What STAT is made of: a ProcInfo, or procfs.StatFacts for a single process."""

    @property
    def pid(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def nice(self) -> int: ...
    @property
    def locked_kb(self) -> int: ...
    @property
    def session(self) -> int: ...
    @property
    def threads(self) -> int: ...
    @property
    def pgrp(self) -> int: ...
    @property
    def tpgid(self) -> int: ...


def format_stat(p: StatSource) -> str:
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
