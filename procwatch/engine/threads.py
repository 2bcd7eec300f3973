"""The threads view: the threads of each shown process as its children in the tree (TID, per-thread state).

Read only when the user asks (a key), only for the processes on the rows (filters and collapsed subtrees apply),
only for processes with more than one thread, and at most `budget` threads per refresh: the cost is bounded
whatever the machine (10,000 processes of one thread each cost nothing more). The process row is the main thread
(/proc/PID/stat shows the thread group leader), so the rows added are the other threads. Standard library only.
"""

from __future__ import annotations

import os

from procwatch.engine import procfs
from procwatch.engine.model import Identity, ProcInfo
from procwatch.engine.tree import Row

THREAD_BUDGET = 2000  # thread rows read per refresh at most


def read_threads(parent: ProcInfo, proc: str = procfs.PROC) -> list[ProcInfo]:
    """The threads of `parent` other than its main thread, as ProcInfo records (pid = TID, ppid = the process),
    in TID order; [] when the process is gone or its task directory unreadable. Memory is the process's (threads
    share it, as htop shows); CPU% is not measured per thread."""
    try:
        tids = sorted(int(name) for name in os.listdir(f"{proc}/{parent.pid}/task") if name.isdigit())
    except OSError:
        return []
    clock_ticks = os.sysconf("SC_CLK_TCK")
    out = []
    for tid in tids:
        if tid == parent.pid:
            continue
        try:
            name, f = procfs.split_stat(procfs.read(f"{proc}/{parent.pid}/task/{tid}/stat"))
            ticks = int(f[19])
            out.append(parent._replace(
                pid=tid, ppid=parent.pid, start_ticks=ticks, state=f[0].decode(), nice=int(f[16]), threads=1,
                locked_kb=0, exit_code=0, cpu_ticks=int(f[11]) + int(f[12]), cpu_percent=0.0,
                name=name, argv=(), started=parent.started + (ticks - parent.start_ticks) / clock_ticks))
        except (OSError, ValueError, IndexError):
            continue  # the thread ended between the listing and the read
    return out


def with_threads(rows: list[Row], proc: str = procfs.PROC,
                 budget: int = THREAD_BUDGET) -> tuple[list[Row], frozenset[Identity], int]:
    """(rows with thread rows under their process, the identities of the thread rows, how many multithreaded
    processes were left out because the budget ran out)."""
    out: list[Row] = []
    thread_ids: set[Identity] = set()
    left_out = 0
    for index, row in enumerate(rows):
        out.append(row)
        p = row.proc
        if p.threads <= 1:
            continue
        if budget <= 0:
            left_out += 1
            continue
        threads = read_threads(p, proc)[:budget]
        budget -= len(threads)
        if not threads:
            continue
        # The guide of the process's children: its own guide without the branch, continued when it has siblings.
        prefix = row.guide[:-3] + ("│  " if row.guide.endswith("├─ ") else "   ") if row.guide else ""
        has_children_shown = index + 1 < len(rows) and rows[index + 1].depth > row.depth
        for number, thread in enumerate(threads):
            last = number == len(threads) - 1 and not has_children_shown
            out.append(Row(thread, row.depth + 1, prefix + ("└─ " if last else "├─ "), row.context, 0, False, 0))
            thread_ids.add((thread.pid, thread.start_ticks))
    return out, frozenset(thread_ids), left_out
