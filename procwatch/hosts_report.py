"""`--once --host`: every host's processes, each through its own ssh connection (all opened at once). No Textual,
rich or psutil on this path. Text: one tree per host under a `host LABEL` line; JSON: one array, every object
with a `host` field. A host that cannot be read gets one line on stderr and makes the exit status 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TextIO

from procwatch.engine import words
from procwatch.engine.escape import printable
from procwatch.engine.hosts import HostSpec, SshOptions
from procwatch.engine.lineage import Lineage
from procwatch.engine.model import Snapshot
from procwatch.engine.remote import RemoteCollector, RemoteError
from procwatch.engine.tree import ProcessFilter, build_rows
from procwatch.report import row_json, run_once


def collect(hosts: Sequence[HostSpec], options: SshOptions) -> list[tuple[HostSpec, Snapshot | str, frozenset[int]]]:
    """One snapshot per host, or why there is none, with procwatch's own pids there (the agent and its shell).
    Connections run in parallel; every one is closed."""
    collectors = [RemoteCollector(host, options=options).start() for host in hosts]
    results: list[tuple[HostSpec, Snapshot | str, frozenset[int]]] = []
    try:
        for collector in collectors:
            try:
                snapshot = collector.sweep()
                results.append((collector.host, snapshot, collector.own_pids(snapshot.procs)))
            except RemoteError as error:
                results.append((collector.host, str(error), frozenset()))
    finally:
        for collector in collectors:
            collector.close()
    return results


def run_hosts_once(args: argparse.Namespace, process_filter: ProcessFilter, hosts: Sequence[HostSpec],
                   options: SshOptions, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    status = 0
    objects: list[dict[str, object]] = []
    for host, result, _own in collect(hosts, options):
        label = printable(host.label)
        if isinstance(result, str):
            print(f"procwatch: {words.host_failed(label, result)}", file=sys.stderr)
            status = 1
            continue
        for note in result.notes:
            print(f"procwatch: {label}: {printable(words.note_words(note))}", file=sys.stderr)
        if args.json:
            observations = Lineage().observe(result)
            sort = "time" if args.sort == "cpu" else args.sort
            objects += [{"host": host.label, **row_json(row, observations)}
                        for row in build_rows(result.procs, process_filter, sort=sort)]
        else:
            out.write(f"host {label}\n")
            run_once(args, process_filter, out, replace(result, notes=()))
    if args.json:
        import json

        out.write(json.dumps(objects))
        out.write("\n")
    return status
