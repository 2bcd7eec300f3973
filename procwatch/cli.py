"""Command line: `procwatch` opens the TUI; `--once` prints the tree (or `--json`) without importing Textual."""

from __future__ import annotations

import argparse
import gc
import math
import os
import pwd
import sys
from typing import Sequence

from procwatch import __version__
from procwatch.stat import STATE_LETTERS, STATE_NAMES, format_stat

SORT_CHOICES = ("pid", "cpu", "mem", "name")


class UsageError(Exception):
    """A bad command-line value: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line instead of usage + message
        raise UsageError(message)


def parse_users(value: str) -> frozenset[str]:
    users = set()
    for name in value.split(","):
        name = name.strip()
        if not name:
            raise UsageError(f"--user: empty user name in {value!r}")
        if name.isdigit():
            try:
                name = pwd.getpwuid(int(name)).pw_name
            except (KeyError, OverflowError):
                pass  # a uid without a name: processes show it numerically too
        else:
            try:
                pwd.getpwnam(name)
            except KeyError:
                raise UsageError(f"--user: unknown user {name!r}") from None
        users.add(name)
    return frozenset(users)


def parse_states(value: str) -> frozenset[str]:
    bad = [c for c in value if c not in STATE_LETTERS]
    if not value or bad:
        raise UsageError(f"--state: {''.join(bad) or 'nothing'!r} is not a state; use letters from {STATE_LETTERS}")
    return frozenset(value)


def parse_interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise UsageError(f"--interval: {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 3600:
        raise UsageError(f"--interval: {value!r} must be more than 0 and at most 3600 seconds")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="procwatch", description="Live process-state monitor: a process tree with decoded ps "
                     "STAT codes, zombies and orphans explained, and a sandbox of demo processes.")
    parser.add_argument("--version", action="version", version=f"procwatch {__version__}")
    parser.add_argument("--once", action="store_true", help="print the process tree once and exit (no TUI)")
    parser.add_argument("--json", action="store_true", help="with --once: print a JSON array, one object per process")
    parser.add_argument("--user", metavar="NAME[,NAME]", help="show only processes of these users (names or uids)")
    parser.add_argument("--state", metavar="LETTERS", help=f"show only processes in these states, e.g. Z or DZ "
                        f"(letters from {STATE_LETTERS})")
    parser.add_argument("--filter", metavar="TEXT", help="show only processes whose name, command line or pid "
                        "contains TEXT (case-insensitive)")
    parser.add_argument("--sort", metavar="KEY", default="pid", help=f"sort siblings by {', '.join(SORT_CHOICES)}")
    parser.add_argument("--interval", metavar="SECONDS", default="1", help="TUI refresh interval (default 1)")
    parser.add_argument("--theme", metavar="NAME", help="TUI colour theme (any Textual theme, e.g. textual-light)")
    parser.add_argument("--no-sandbox", action="store_true", help="disable the sandbox of demo processes")
    return parser


def run_once(args: argparse.Namespace, process_filter, out=None) -> int:
    # One sweep allocates a few records per process and frees nothing: the cyclic GC would only rescan them (~3 %).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_once(args, process_filter, out)
    finally:
        if gc_was_enabled:
            gc.enable()


def _run_once(args: argparse.Namespace, process_filter, out=None) -> int:
    from procwatch.collector import make_collector
    from procwatch.lineage import Lineage
    from procwatch.tree import build_rows

    out = out if out is not None else sys.stdout  # looked up per call: redirect_stdout, capsys
    snapshot = make_collector().sweep()
    observations = Lineage().observe(snapshot)
    rows = build_rows(snapshot.procs, process_filter, sort=args.sort)
    for note in snapshot.notes:
        print(f"procwatch: {note}", file=sys.stderr)
    if args.json:
        import json

        # dumps, not dump: json.dump streams through the pure-Python encoder, dumps uses the C one (same text).
        out.write(json.dumps([row_json(row, observations) for row in rows]))
        out.write("\n")
        return 0
    from procwatch.text import printable

    width = 0
    if out.isatty():
        import shutil

        width = shutil.get_terminal_size().columns
    commands = [" ".join(row[0][18]) if row[0][18] else f"[{row[0][17]}]" for row in rows]  # ProcInfo.cmdline
    everything = " ".join(commands)  # printable() escapes single characters: one pass tells for all
    if printable(everything) != everything:  # some command needs escaping (rare): check each one
        commands = [printable(command) for command in commands]
    lines = [f"{'PID':>7} {'USER':<10} {'STAT':<6} COMMAND"]
    append = lines.append
    users: dict[str, str] = {}  # user name -> its padded, escaped column
    zombies, unreaped, orphans = observations.zombies, observations.unreaped, observations.orphans
    for row, command in zip(rows, commands):
        p = row[0]
        pid, user = p[0], p[4]
        column = users.get(user)
        if column is None:
            column = users[user] = f"{printable(user)[:10]:<10}"
        line = f"{pid:>7} {column} {format_stat(p):<6} {row[2]}{command}"
        if row[3] or pid in zombies or pid in unreaped or pid in orphans:
            markers = row_markers(row, observations)
            if markers:
                line += "  " + "  ".join(f"<{printable(m)}>" for m in markers)
        append(line[:width] if width else line)
    out.write("\n".join(lines) + "\n")
    return 0


def row_markers(row, observations) -> list[str]:
    """Zombie, orphan, unreaped-children and context markers in words (so they survive any terminal)."""
    p = row.proc
    markers = []
    zombie = observations.zombies.get(p.pid)
    if zombie is not None:
        parent = observations.snapshot.get(p.ppid)
        markers.append(zombie.explain(p.ppid, parent.name if parent else "?", observations.snapshot.taken_at))
    unreaped = observations.unreaped.get(p.pid)
    if unreaped is not None:
        markers.append(f"parent of {unreaped.count} unreaped zombie{'s' if unreaped.count > 1 else ''}")
    orphan = observations.orphans.get(p.pid)
    if orphan is not None:
        markers.append(orphan.explain())
    if row.context:
        markers.append("context: ancestor of a match")
    return markers


def row_json(row, observations) -> dict:
    p = row.proc
    orphan = observations.orphans.get(p.pid)
    zombie = observations.zombies.get(p.pid)
    unreaped = observations.unreaped.get(p.pid)
    return {
        "pid": p.pid, "ppid": p.ppid, "user": p.user, "uid": p.uid, "stat": format_stat(p),
        "state": STATE_NAMES.get(p.state, p.state), "name": p.name,
        "cmdline": " ".join(p.argv), "argv": list(p.argv),
        "zombie": p.state == "Z", "zombie_threads_alive": bool(zombie and zombie.threads_alive),
        "exit_status": zombie.status if zombie else None,
        "unreaped_children": unreaped.count if unreaped else 0,
        "orphan": orphan is not None, "orphan_evidence": orphan.explain() if orphan else None,
        "depth": row.depth, "context": row.context,
        "nice": p.nice, "threads": p.threads, "session": p.session, "pgrp": p.pgrp, "tpgid": p.tpgid,
        "rss": p.rss, "started": p.started, "kernel_thread": p.kernel_thread,
    }


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.sort not in SORT_CHOICES:
            raise UsageError(f"--sort: {args.sort!r} is not one of {', '.join(SORT_CHOICES)}")
        if args.json and not args.once:
            raise UsageError("--json goes with --once")
        if args.once and args.theme is not None:
            raise UsageError("--theme is for the TUI; --once prints plain text")
        from procwatch.tree import ProcessFilter

        process_filter = ProcessFilter(
            users=parse_users(args.user) if args.user is not None else frozenset(),
            states=parse_states(args.state) if args.state is not None else frozenset(),
            text=args.filter or "",
        )
        interval = parse_interval(args.interval)
    except UsageError as error:
        print(f"procwatch: {error} (see procwatch --help)", file=sys.stderr)
        return 2
    if args.once:
        try:
            return run_once(args, process_filter)
        except BrokenPipeError:  # `procwatch --once | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    from procwatch.app import run_app

    return run_app(process_filter=process_filter, interval=interval, sort=args.sort, theme=args.theme,
                   sandbox=not args.no_sandbox)
