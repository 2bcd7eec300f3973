"""`--watch [--json] [--snapshots]`: a stream of lineage events, one line each, flushed per line.

The first sweep only establishes what exists (with --snapshots it is printed as the first snapshot object); every
later sweep prints what changed: new, exec, state, zombie, reparented, exited, reaped, threads. The usual filters
apply to the process an event is about, as it is after the event (a process that is gone: as last seen). Ends
with status 0 on Ctrl+C (SIGINT), on SIGTERM, and when the reader goes away (SIGPIPE: `procwatch --watch | head`). Engine only:
no Textual, rich or psutil on this path.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

from procwatch.engine import words
from procwatch.engine.escape import printable
from procwatch.engine.lineage import EVENT_KINDS, Event, Lineage, Observations, ThreadsChanged
from procwatch.engine.model import ProcInfo
from procwatch.engine.stat import format_stat
from procwatch.engine.tree import ProcessFilter
from procwatch.view.collectors import make_collector


def event_object(event: Event, proc: ProcInfo | None) -> dict[str, Any]:
    """{"event": "zombie", "at": ..., "pid": ..., "start_ticks": ..., "name": ..., and the event's own values}."""
    values = event._asdict()
    if isinstance(event, ThreadsChanged):  # one change, as it happens: the event log's coalescing fields say nothing
        del values["changes"], values["since"]
    pid, start_ticks = values.pop("identity")
    out: dict[str, Any] = {"event": EVENT_KINDS[type(event)], "at": round(values.pop("at"), 3), "pid": pid,
                           "start_ticks": start_ticks}
    if proc is not None:
        out["name"] = proc.name
    out.update(values)
    return out


def snapshot_object(observations: Observations, process_filter: ProcessFilter) -> dict[str, Any]:
    snapshot = observations.snapshot
    states: dict[str, int] = {}
    for p in snapshot.procs.values():
        states[p.state] = states.get(p.state, 0) + 1
    chosen = [p for p in snapshot.procs.values() if process_filter.matches(p)] if process_filter.active else \
        list(snapshot.procs.values())
    return {
        "event": "snapshot", "at": round(snapshot.taken_at, 3), "sweep_seconds": round(snapshot.sweep_seconds, 4),
        "processes": len(snapshot.procs), "states": states, "zombies": len(observations.zombies),
        "orphans": len(observations.orphans),
        "procs": [{"pid": p.pid, "ppid": p.ppid, "user": p.user, "stat": format_stat(p), "name": p.name,
                   "cpu_percent": round(p.cpu_percent, 1), "rss": p.rss, "threads": p.threads} for p in chosen],
    }


def about(event: Event, procs: Mapping[int, ProcInfo], before: Mapping[int, ProcInfo]) -> ProcInfo | None:
    """The process an event is about: as it is now, or as last seen when it is gone."""
    pid, start_ticks = event.identity
    for source in (procs, before):
        p = source.get(pid)
        if p is not None and p.start_ticks == start_ticks:
            return p
    return None


def _stop(signo: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_watch(args: argparse.Namespace, process_filter: ProcessFilter, interval: float,
              out: TextIO | None = None, sweeps: int | None = None) -> int:
    """Stream until interrupted (or `sweeps` sweeps, for tests). BrokenPipeError and KeyboardInterrupt are left to
    the caller, which ends with status 0 on both."""
    out = out if out is not None else sys.stdout
    if sweeps is None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)  # `kill PID` ends it as Ctrl+C does: status 0, the last line whole
        signal.signal(signal.SIGINT, _stop)  # even when started in the background of a script (SIGINT ignored)
    collector = make_collector(args.procfs, cgroups=process_filter.needs_cgroups)
    lineage = Lineage()
    before: Mapping[int, ProcInfo] = {}
    count = 0
    write, flush = out.write, out.flush
    while sweeps is None or count < sweeps:
        started = time.monotonic()
        observations = lineage.observe(collector.sweep())
        procs = observations.snapshot.procs
        names: Mapping[int, str] = {}
        if observations.events and not args.json:  # names for the words, of the living and of the just gone
            names = {**{pid: p.name for pid, p in before.items()}, **{pid: p.name for pid, p in procs.items()}}
        if count == 0:
            for note in observations.snapshot.notes:
                print(f"procwatch: {words.note_words(note)}", file=sys.stderr)
            if not args.json:
                write(words.watch_started(len(procs)) + "\n")
        for event in observations.events:
            p = about(event, procs, before)
            if process_filter.active and (p is None or not process_filter.matches(p)):
                continue
            if args.json:
                write(json.dumps(event_object(event, p)) + "\n")
            else:  # the same words as the TUI's event log
                write(printable(words.event_line(event, names)) + "\n")
        if args.snapshots:
            if args.json:
                write(json.dumps(snapshot_object(observations, process_filter)) + "\n")
            else:
                stamp = time.strftime("%H:%M:%S", time.localtime(observations.snapshot.taken_at))
                write(f"{stamp} {words.snapshot_phrase(len(procs), snapshot_object(observations, process_filter)['states'])}\n")
        flush()
        before = procs
        count += 1
        if sweeps is not None and count >= sweeps:
            break
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return 0
