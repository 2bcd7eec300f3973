"""`--once`: the tree as text or JSON, from one sweep. Engine only: no Textual, rich or psutil on this path."""

from __future__ import annotations

import argparse
import gc
import sys
from typing import TextIO

from procwatch.engine import words
from procwatch.engine.catalog import using
from procwatch.engine.escape import cut_cells, printable
from procwatch.engine.lineage import Lineage, Observations
from procwatch.engine.model import Snapshot
from procwatch.engine.stat import STATE_NAMES, format_stat
from procwatch.engine.tree import ProcessFilter, Row, build_rows
from procwatch.view.collectors import make_collector


def run_once(args: argparse.Namespace, process_filter: ProcessFilter, out: TextIO | None = None,
             snapshot: Snapshot | None = None) -> int:
    # One sweep allocates a few records per process and frees nothing: the cyclic GC would only rescan them (~3 %).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_once(args, process_filter, out, snapshot)
    finally:
        if gc_was_enabled:
            gc.enable()


def _run_once(args: argparse.Namespace, process_filter: ProcessFilter, out: TextIO | None = None,
              snapshot: Snapshot | None = None) -> int:
    """`snapshot`: one taken elsewhere (a remote host's); by default a local sweep."""
    out = out if out is not None else sys.stdout  # looked up per call: redirect_stdout, capsys
    columns = getattr(args, "columns", None) or ""
    cgroups = process_filter.needs_cgroups or any(name.strip().lower().rstrip("=") in ("unit", "cgroup")
                                                  for name in columns.split(","))
    if snapshot is None:  # (a remote host's snapshot is handed in: procwatch.hosts_report)
        snapshot = make_collector(getattr(args, "procfs", "/proc"), cgroups=cgroups).sweep()
    observations = Lineage().observe(snapshot)
    # One sweep has no CPU rate yet: CPU time is what tells the busy processes apart.
    rows = build_rows(snapshot.procs, process_filter, sort="time" if args.sort == "cpu" else args.sort)
    for note in snapshot.notes:
        print(f"procwatch: {words.note_words(note)}", file=sys.stderr)
    if args.json:
        import json

        # dumps, not dump: json.dump streams through the pure-Python encoder, dumps uses the C one (same text).
        with using("en"):  # JSON is for programs: its values stay English whatever the user reads
            out.write(json.dumps([row_json(row, observations) for row in rows]))
        out.write("\n")
        return 0
    width = 0
    if out.isatty():
        import shutil

        width = shutil.get_terminal_size().columns
    guides = unicode_guides(out)
    if getattr(args, "columns", None):
        lines = column_lines(rows, args.columns, observations, guides, getattr(args, "procfs", "/proc"))
        out.write("\n".join(cut_cells(line, width) if width else line for line in lines) + "\n")
        return 0
    commands = [row.proc.cmdline for row in rows]
    everything = " ".join(commands)  # printable() escapes single characters: one pass tells for all
    if printable(everything) != everything:  # some command needs escaping (rare): check each one
        commands = [printable(command) for command in commands]
    lines = [f"{'PID':>7} {'USER':<10} {'STAT':<6} COMMAND"]
    append = lines.append
    users: dict[str, str] = {}  # user name -> its padded, escaped column
    zombies, unreaped, orphans = observations.zombies, observations.unreaped, observations.orphans
    for row, command in zip(rows, commands, strict=True):
        p = row.proc
        pid, user = p.pid, p.user
        column = users.get(user)
        if column is None:
            column = users[user] = f"{printable(user)[:10]:<10}"
        line = f"{pid:>7} {column} {format_stat(p):<6} {row.guide if guides else ascii_guide(row.guide)}{command}"
        if row.context or pid in zombies or pid in unreaped or pid in orphans or p.state in "DTt":
            markers = words.markers(p, observations, context=row.context)
            if markers:
                line += "  " + "  ".join(f"<{printable(m)}>" for m in markers)
        append(cut_cells(line, width) if width else line)
    out.write("\n".join(lines) + "\n")
    return 0


GUIDE_CHARACTERS = "├└│─⋯"
ASCII_GUIDES = str.maketrans({"├": "|", "└": "`", "│": "|", "─": "-", "⋯": "~"})


def unicode_guides(out: TextIO) -> bool:
    """Whether the output can encode the tree guides; where it cannot (PYTHONIOENCODING=ascii, latin-1), ASCII
    guides are drawn and whatever else the encoding lacks comes out as backslash escapes."""
    encoding = getattr(out, "encoding", None) or "utf-8"
    try:
        GUIDE_CHARACTERS.encode(encoding)
        return True
    except (UnicodeEncodeError, LookupError):
        reconfigure = getattr(out, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
        return False


def ascii_guide(guide: str) -> str:
    return guide.translate(ASCII_GUIDES)


def row_json(row: Row, observations: Observations) -> dict[str, object]:
    p = row.proc
    orphan = observations.orphans.get(p.pid)
    zombie = observations.zombies.get(p.pid)
    unreaped = observations.unreaped.get(p.pid)
    return {
        "pid": p.pid, "ppid": p.ppid, "user": p.user, "uid": p.uid, "stat": format_stat(p),
        "state": STATE_NAMES.get(p.state, p.state), "name": p.name,
        "cmdline": " ".join(p.argv), "argv": list(p.argv),
        "zombie": p.state == "Z", "zombie_threads_alive": bool(zombie and zombie.threads_alive),
        "exit_status": words.wait_status(zombie.exit_code) if zombie and zombie.exit_code >= 0 else None,
        "unreaped_children": unreaped.count if unreaped else 0,
        "orphan": orphan is not None, "orphan_evidence": words.explain_orphan(orphan) if orphan else None,
        "depth": row.depth, "context": row.context,
        "nice": p.nice, "threads": p.threads, "session": p.session, "pgrp": p.pgrp, "tpgid": p.tpgid,
        "rss": p.rss, "started": p.started, "kernel_thread": p.kernel_thread,
    }


def column_lines(rows: list[Row], names: str, observations: Observations, guides: bool, proc: str) -> list[str]:
    """`--once --columns pid,ppid,stat,args`: the chosen columns, each as wide as its widest value, in tree order
    (the command keeps its tree guide, as `ps --forest`). A list of names all ending in `=` (`pid=,stat=`)
    prints no header, as ps does."""
    from procwatch.engine.columns import ColumnContext, mem_total_kb, parse_columns, renamed

    columns = parse_columns(names)
    header = not all(name.strip().endswith("=") for name in names.split(","))
    import time

    # the boot clock as it was at the sweep (time goes on while the rows are built: on a loaded machine, seconds)
    uptime = time.clock_gettime(time.CLOCK_BOOTTIME) - (time.time() - observations.snapshot.taken_at)
    ctx = ColumnContext(now=observations.snapshot.taken_at, mem_total_kb=mem_total_kb(proc), proc=proc,
                        uptime=uptime)
    table = [[printable(column.value(row.proc, ctx)) for column in columns] for row in rows]
    widths = [max([len(column.header)] + [len(line[i]) for line in table]) for i, column in enumerate(columns)]
    lines = [_join([column.header for column in columns], columns, widths)] if header else []
    for row, cells in zip(rows, table, strict=True):
        for i, column in enumerate(columns):
            if column.key == "command":
                notes = words.markers(row.proc, observations, context=row.context)
                if renamed(row.proc):
                    notes.insert(0, words.comm_marker(row.proc.name))
                command = cells[i] + "".join(f"  <{printable(note)}>" for note in notes)
                cells[i] = (row.guide if guides else ascii_guide(row.guide)) + command
        lines.append(_join(cells, columns, widths))
    return lines


def _join(cells: list[str], columns: tuple, widths: list[int]) -> str:
    parts = []
    for cell, column, width in zip(cells, columns, widths, strict=True):
        if column.key == "command":
            parts.append(cell)
        else:
            parts.append(f"{cell:>{width}}" if column.right else f"{cell:<{width}}")
    return " ".join(parts).rstrip()
