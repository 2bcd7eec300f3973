"""`--check`: a monitoring plugin (Nagios, Icinga, Naemon, Sensu) in the manner of monitoring-plugins' check_procs.

One sweep; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; one status line with perfdata on stdout. Engine only: no
Textual, rich or psutil on this path.

The age `--min-age` asks for is how long a process has been in the state it is in now, measured, not guessed: a
process in S, D, T, t or Z has not run on a CPU since it entered that state, and the kernel says when it last ran
(`se.exec_start` in /proc/PID/sched); our own value of that clock, read at the same time, gives "now". For R the
age is the process's elapsed time (check_procs' ELAPSED). Where the kernel has no /proc/PID/sched, the elapsed time
is used for every state: an upper bound, as check_procs uses it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from procwatch.engine import procfs, words
from procwatch.engine.checks import (
    STATUS_NAMES,
    UNKNOWN,
    NagiosRange,
    Verdict,
    judge,
    perfdata,
    select,
    verdict,
    worse,
)
from procwatch.engine.escape import printable
from procwatch.engine.model import ProcInfo, Snapshot
from procwatch.engine.tree import ProcessFilter
from procwatch.view.collectors import make_collector

if TYPE_CHECKING:  # the ssh code is imported by run_hosts_check, only with --host
    from procwatch.engine.hosts import HostSpec, SshOptions


def state_ages(snapshot: Snapshot, proc: str) -> Callable[[ProcInfo], float]:
    """Seconds each process has been in its current state (see the module's docstring)."""
    now_ms = procfs.last_ran_ms("thread-self")  # the scheduler's clock now: we are running

    def age(p: ProcInfo) -> float:
        elapsed = max(0.0, snapshot.taken_at - p.started)
        if p.state == "R" or now_ms is None:
            return elapsed
        last = procfs.last_ran_ms(p.pid, proc)
        if last is None:
            return elapsed
        return min(elapsed, max(0.0, (now_ms - last) / 1000))

    return age


def run_check(args: argparse.Namespace, process_filter: ProcessFilter, warning: NagiosRange | None,
              critical: NagiosRange | None, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    try:
        snapshot = make_collector(args.procfs, cgroups=process_filter.needs_cgroups).sweep()
    except OSError as error:
        out.write(words.check_unknown(f"cannot read {args.procfs}: {error.strerror or error}") + "\n")
        return UNKNOWN
    if not snapshot.procs:
        out.write(words.check_unknown(f"no process visible in {args.procfs}") + "\n")
        return UNKNOWN
    ages = state_ages(snapshot, args.procfs) if args.min_age is not None else None
    mine = {os.getpid()} if procfs.proc_is_ours(args.procfs) else set()  # never count the check itself
    chosen = select(snapshot.procs, process_filter.matches, mine, args.min_age, ages)
    result = verdict(chosen, snapshot.procs, warning, critical, args.per_parent)
    what = words.describe_filter_for_check(
        ",".join(sorted(process_filter.users)), "".join(sorted(process_filter.states)), process_filter.text,
        ",".join(sorted(process_filter.units)), process_filter.cgroup)
    worst = (result.worst.pid, printable(result.worst.name), result.worst.children) if result.worst else None
    line = words.check_status_line(STATUS_NAMES[result.status], result.selected, printable(what), worst,
                                   args.per_parent, args.min_age,
                                   perfdata(result, warning, critical, args.per_parent))
    out.write(line + "\n")
    return result.status



def elapsed_ages(snapshot: Snapshot) -> Callable[[ProcInfo], float]:
    """--min-age on a remote host: the elapsed time (check_procs' ELAPSED, an upper bound of the time in the
    state): the kernel's clock of when a process last ran is read on this machine only."""
    return lambda p: max(0.0, snapshot.taken_at - p.started)


def run_hosts_check(args: argparse.Namespace, process_filter: ProcessFilter, warning: NagiosRange | None,
                    critical: NagiosRange | None, hosts: Sequence[HostSpec], options: SshOptions,
                    out: TextIO | None = None) -> int:
    """`--check --host`: one sweep per host (in parallel, BatchMode), the counts summed over the hosts, one status
    line naming the hosts that count (and with --per-parent, the worst parent with its host).

    A host that cannot be read makes the result UNKNOWN, named with why, as check_by_ssh does when ssh fails
    (monitoring-plugins 2.3.3: "Remote command execution failed: ...", status 3). A result already WARNING or
    CRITICAL on the hosts that could be read stays so (monitoring-plugins' max_state_alt: OK < UNKNOWN < WARNING <
    CRITICAL): a known problem outranks not knowing."""
    from procwatch.hosts_report import collect

    out = out if out is not None else sys.stdout
    per_host: list[tuple[str, int]] = []
    unreachable: list[tuple[str, str]] = []
    results: list[tuple[str, Verdict]] = []
    for host, result, own in collect(hosts, options):
        label = printable(host.label)
        if isinstance(result, str):
            unreachable.append((label, printable(result)))
            continue
        if not result.procs:
            unreachable.append((label, "no process visible"))
            continue
        ages = elapsed_ages(result) if args.min_age is not None else None
        chosen = select(result.procs, process_filter.matches, own, args.min_age, ages)
        results.append((label, verdict(chosen, result.procs, warning, critical, args.per_parent)))
        per_host.append((label, len(chosen)))
    selected = sum(v.selected for _, v in results)
    worst = None
    for label, v in results:  # the parent with most selected children, on any host (the first host on a tie)
        if v.worst is not None and (worst is None or v.worst.children > worst[3]):
            worst = (label, v.worst.pid, printable(v.worst.name), v.worst.children)
    value = (worst[3] if worst else 0) if args.per_parent else selected
    status = judge(value, warning, critical) if results else UNKNOWN
    if unreachable:
        status = worse(status, UNKNOWN)
    total = Verdict(status, selected, value, None, sum(v.parents for _, v in results))
    perf = perfdata(total, warning, critical, args.per_parent)
    if unreachable:
        perf += f" unreachable={len(unreachable)};;;0;"
    what = words.describe_filter_for_check(
        ",".join(sorted(process_filter.users)), "".join(sorted(process_filter.states)), process_filter.text,
        ",".join(sorted(process_filter.units)), process_filter.cgroup)
    out.write(words.check_hosts_status_line(STATUS_NAMES[status], selected, printable(what), per_host, len(results),
                                            worst, args.per_parent, args.min_age, unreachable, perf) + "\n")
    return status
