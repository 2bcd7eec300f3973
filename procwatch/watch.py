"""`--watch [--json] [--snapshots]`: a stream of lineage events, one line each, flushed per line.

The first sweep only establishes what exists (with --snapshots it is printed as the first snapshot object); every
later sweep prints what changed: new, exec, state, zombie, reparented, exited, reaped, threads. The usual filters
apply to the process an event is about, as it is after the event (a process that is gone: as last seen). Ends
with status 0 on Ctrl+C (SIGINT), on SIGTERM, and when the reader goes away (SIGPIPE: `procwatch --watch | head`). Engine only:
no Textual, rich or psutil on this path.
"""

from __future__ import annotations

import argparse
import functools
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from procwatch.engine import words
from procwatch.engine.escape import printable
from procwatch.engine.lineage import EVENT_KINDS, Event, Lineage, Observations, ThreadsChanged
from procwatch.engine.model import ProcInfo
from procwatch.engine.stat import format_stat
from procwatch.engine.tree import ProcessFilter
from procwatch.view.collectors import make_collector

if TYPE_CHECKING:  # the ssh code is imported by run_hosts_watch, only with --host
    from procwatch.engine.hosts import HostSpec, SshOptions
    from procwatch.engine.remote import HostStatus


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


def write_sweep(args: argparse.Namespace, process_filter: ProcessFilter, observations: Observations,
                before: Mapping[int, ProcInfo], write: Callable[[str], object], host: str | None = None,
                own: Collection[int] = ()) -> None:
    """The lines of one sweep: its events (those the filters select), then with --snapshots the sweep itself.
    `host`: the label of the remote it came from (a `host` field, or after the clock); `own`: pids of procwatch's
    own processes there (the agent, the shell running ps and its ps), never reported."""
    procs = observations.snapshot.procs
    names: Mapping[int, str] = {}
    if observations.events and not args.json:  # names for the words, of the living and of the just gone
        names = {**{pid: p.name for pid, p in before.items()}, **{pid: p.name for pid, p in procs.items()}}
    for event in observations.events:
        if event.identity[0] in own:
            continue
        p = about(event, procs, before)
        if process_filter.active and (p is None or not process_filter.matches(p)):
            continue
        if args.json:
            write(json.dumps(event_object(event, p) if host is None else {"host": host, **event_object(event, p)})
                  + "\n")
        elif host is None:  # the same words as the TUI's event log
            write(printable(words.event_line(event, names)) + "\n")
        else:
            write(printable(words.host_event_line(host, event, names)) + "\n")
    if args.snapshots:
        summary = snapshot_object(observations, process_filter)
        if args.json:
            write(json.dumps(summary if host is None else {"host": host, **summary}) + "\n")
        else:
            stamp = time.strftime("%H:%M:%S", time.localtime(observations.snapshot.taken_at))
            where = "" if host is None else f"{host}: "
            write(f"{stamp} {where}{words.snapshot_phrase(len(procs), summary['states'])}\n")


def run_watch(args: argparse.Namespace, process_filter: ProcessFilter, interval: float,
              out: TextIO | None = None, sweeps: int | None = None) -> int:
    """Stream until interrupted (or `sweeps` sweeps, for tests). BrokenPipeError and KeyboardInterrupt are left to
    the caller, which ends with status 0 on both."""
    out = out if out is not None else sys.stdout
    if sweeps is None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)  # `kill PID` ends it as Ctrl+C does: status 0, the last line whole
        signal.signal(signal.SIGINT, _stop)  # even when started in the background of a script (SIGINT ignored)
    collector = make_collector(args.procfs, cgroups=process_filter.needs_cgroups, repeated=True)
    lineage = Lineage()
    before: Mapping[int, ProcInfo] = {}
    count = 0
    while sweeps is None or count < sweeps:
        started = time.monotonic()
        observations = lineage.observe(collector.sweep())
        procs = observations.snapshot.procs
        if count == 0:
            for note in observations.snapshot.notes:
                print(f"procwatch: {words.note_words(note)}", file=sys.stderr)
            if not args.json:
                out.write(words.watch_started(len(procs)) + "\n")
        write_sweep(args, process_filter, observations, before, out.write)
        out.flush()
        before = procs
        count += 1
        if sweeps is not None and count >= sweeps:
            break
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return 0


def run_hosts_watch(args: argparse.Namespace, process_filter: ProcessFilter, interval: float,
                    hosts: Sequence[HostSpec], options: SshOptions, out: TextIO | None = None) -> int:
    """`--watch --host`: one stream merged from every host, in the order things arrive; each line (JSON object)
    names its host. A host that drops says so in a line (`disconnected`, why, when it is tried again) and is
    reconnected with the fleet view's backoff (1, 2, 5, 10, then every 30 s), then says `connected` again; the
    events of the gap are reported on its first sweep after it. Ends as --watch does (status 0 on SIGINT, SIGTERM,
    a closed pipe); every ssh connection is closed on the way out."""
    import queue

    from procwatch.engine.remote import RemoteCollector

    out = out if out is not None else sys.stdout
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    changes: queue.SimpleQueue[tuple[int, HostStatus | None]] = queue.SimpleQueue()
    collectors = [RemoteCollector(host, interval, options, reconnect=True, first_timeout=0,
                                  on_change=functools.partial(_put_change, changes, i))
                  for i, host in enumerate(hosts)]
    lineages = [Lineage() for _ in hosts]
    last: list[Any] = [None] * len(hosts)  # the snapshot each host last delivered (identity: a new one is new)
    before: list[Mapping[int, ProcInfo]] = [{} for _ in hosts]
    try:
        for collector in collectors:
            collector.start()
        while True:
            try:
                index, status = changes.get(timeout=0.5)  # (a timeout: a signal's handler runs between waits)
            except queue.Empty:
                continue
            collector, label = collectors[index], printable(hosts[index].label)
            if status is not None:
                if status.state in ("connected", "disconnected"):
                    out.write(_host_state_line(args, label, status) + "\n")
                    out.flush()
                continue
            snapshot = collector.latest()
            if snapshot is None or snapshot is last[index]:
                continue
            first, last[index] = last[index] is None, snapshot
            observations = lineages[index].observe(snapshot)
            procs = observations.snapshot.procs
            if first:
                for note in snapshot.notes:
                    print(f"procwatch: {label}: {printable(words.note_words(note))}", file=sys.stderr)
                if not args.json:
                    out.write(words.watch_host_started(label, time.time(), len(procs)) + "\n")
            own = collector.own_pids(procs) | collector.own_pids(before[index])
            write_sweep(args, process_filter, observations, before[index], out.write, host=hosts[index].label
                        if args.json else label, own=own)
            out.flush()
            before[index] = procs
    finally:
        closing = [threading.Thread(target=collector.close) for collector in collectors]  # at once: none waits
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join()
    return 0


def _put_change(changes: Any, index: int, status: HostStatus | None) -> None:
    changes.put((index, status))


def _host_state_line(args: argparse.Namespace, label: str, status: HostStatus) -> str:
    now = time.time()
    retry_in = max(0.0, status.retry_at - time.monotonic()) if status.retry_at is not None else None
    if not args.json:
        return printable(words.watch_host_state(label, now, status.state, status.mode, status.python, status.reason,
                                                retry_in))
    out: dict[str, Any] = {"event": status.state, "host": label, "at": round(now, 3)}
    if status.state == "connected":
        out.update(mode=status.mode, python=status.python or None)
    else:
        out.update(reason=status.reason, retry_in=None if retry_in is None else round(retry_in, 1))
    return json.dumps(out)
