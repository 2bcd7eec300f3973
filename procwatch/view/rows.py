"""Row facts and terminal cells for the table, computed in the poller thread. May use rich, never Textual."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size

from procwatch.engine.columns import renamed
from procwatch.engine.escape import printable
from procwatch.engine.lineage import Observations
from procwatch.engine.model import Identity, ProcInfo, Snapshot
from procwatch.engine.tree import Row

COMMAND_LIMIT = 2000  # characters of a command line drawn in the table; the details panel shows all of it
MARKER_ROOM = 48  # room for the marker words of a flagged row (an estimate: it only sizes the scroll range)


@dataclass(frozen=True)
class RowFacts:
    """What the UI needs about a whole row list, computed off the UI thread (the poller's)."""

    index: dict[Identity, int]  # identity -> row number, for the cursor
    command_width: int  # widest guide + command (+ markers), for horizontal scrolling
    state_counts: dict[str, int]  # over the whole snapshot, not just the rows shown
    threads: int
    snapshot: Snapshot  # the one counted: a rebuild for a new view takes the counts of the last build

    @classmethod
    def of(cls, rows: list[Row], observations: Observations, previous: RowFacts | None = None) -> RowFacts:
        flagged = observations.zombies.keys() | observations.unreaped.keys() | observations.orphans.keys()
        width = 0
        index = {}
        for number, row in enumerate(rows):
            p = row.proc
            index[p.pid, p.start_ticks] = number
            extra = MARKER_ROOM if p.pid in flagged or p.state in "DTt" else 8
            cells = len(row.guide) + command_cells(p)
            if cells + MARKER_ROOM > width and extra < MARKER_ROOM and renamed(p):  # only a row that could be widest
                extra = MARKER_ROOM  # its comm is shown after the command
            width = max(width, cells + extra)
        snapshot = observations.snapshot
        if previous is not None and previous.snapshot is snapshot:
            return cls(index, width, previous.state_counts, previous.threads, snapshot)
        counts: dict[str, int] = {}
        threads = 0
        for p in snapshot.procs.values():
            counts[p.state] = counts.get(p.state, 0) + 1
            threads += p.threads
        return cls(index, width, counts, threads, snapshot)


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
