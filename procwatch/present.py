"""Words and short cells for showing processes: shared by the TUI and --once. No Textual here."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size

from procwatch.lineage import Observations, format_duration
from procwatch.model import Identity, ProcInfo
from procwatch.text import printable
from procwatch.tree import Row

COMMAND_LIMIT = 2000  # characters of a command line drawn in the table; the details panel shows all of it
MARKER_ROOM = 48  # room for the marker words of a flagged row (an estimate: it only sizes the scroll range)


@dataclass(frozen=True)
class RowFacts:
    """What the UI needs about a whole row list, computed off the UI thread (the poller's)."""

    index: dict[Identity, int]  # identity -> row number, for the cursor
    command_width: int  # widest guide + command (+ markers), for horizontal scrolling
    state_counts: dict[str, int]  # over the whole snapshot, not just the rows shown
    threads: int

    @classmethod
    def of(cls, rows: list[Row], observations: Observations) -> "RowFacts":
        flagged = observations.zombies.keys() | observations.unreaped.keys() | observations.orphans.keys()
        width = 0
        index = {}
        for number, row in enumerate(rows):
            p = row.proc
            index[p.pid, p.start_ticks] = number
            extra = MARKER_ROOM if p.pid in flagged or p.state in "DTt" else 8
            width = max(width, len(row.guide) + command_cells(p) + extra)
        counts: dict[str, int] = {}
        threads = 0
        for p in observations.snapshot.procs.values():
            counts[p.state] = counts.get(p.state, 0) + 1
            threads += p.threads
        return cls(index, width, counts, threads)


def command_cells(p: ProcInfo) -> int:
    """Terminal cells the table draws for a command line (after escaping; CJK takes two cells a character)."""
    command = p.cmdline[:COMMAND_LIMIT]
    if command.isascii() and command.isprintable():  # the common case, at C speed
        return len(command)
    return cell_len(printable(command))


def fit_cells(text: str, cells: int) -> str:
    """Cut or pad untrusted text to exactly `cells` terminal cells (wide and combining characters count right)."""
    text = printable(text)
    if text.isascii():
        return f"{text[:cells]:<{cells}}"
    return set_cell_size(text, cells)


def format_bytes(size: int) -> str:
    for unit in ("B", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return f"{size:.0f}{unit}" if unit == "B" or size >= 100 else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.0f}T"


def format_elapsed(seconds: float) -> str:
    """Like ps etime but shorter: 59s, 12:34, 3:02:01, 4d03h."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}:{seconds % 60:02d}"
    if seconds < 86400:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 86400}d{seconds // 3600 % 24:02d}h"


def short_markers(p: ProcInfo, observations: Observations) -> list[str]:
    """Compact words shown after the command in the tree; the details panel has the long story."""
    markers = []
    zombie = observations.zombies.get(p.pid)
    if zombie is not None:
        if zombie.threads_alive:
            markers.append("exiting: threads still run")
        else:
            waited = observations.snapshot.taken_at - zombie.since
            markers.append(f"zombie, {zombie.status}" + (
                f", unreaped {'≥' if zombie.seen_at_start else ''}{format_duration(waited)}" if waited >= 1 else ""))
    unreaped = observations.unreaped.get(p.pid)
    if unreaped is not None:
        markers.append(f"not reaping {unreaped.count} zombie{'s' if unreaped.count > 1 else ''}")
    orphan = observations.orphans.get(p.pid)
    if orphan is not None:
        if orphan.evidence == "reparented":
            markers.append(f"orphan of {orphan.old_parent}, adopted by {orphan.adopter}")
        else:
            markers.append("likely orphan")
    if p.state == "D":
        markers.append("uninterruptible")
    elif p.state == "T":
        markers.append("stopped")
    elif p.state == "t":
        markers.append("traced")
    return markers


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
