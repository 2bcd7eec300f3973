"""Where one engine tick goes, per process: a breakdown of ProcfsCollector.sweep + Lineage + build_rows.

    .venv/bin/python benchmarks/profile_engine.py [--n 5000] [--pyinstrument]

Adds idle processes (benchmarks/population.py, always cleaned up) until about N run, then times each step of
the sweep in isolation over the same pids (median of 7 passes): the directory listing, the three reads,
the three parsers, the int conversions + ProcInfo construction, the user-name lookup; then a whole warm
sweep, Lineage.observe and build_rows. With --pyinstrument it also prints a statistical profile of 10 ticks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from population import Population  # benchmarks/population.py


def timed(fn, passes: int = 7) -> float:
    """Median CPU time of this process (not wall: other work on a 2-core machine would inflate it)."""
    values = []
    for _ in range(passes):
        t0 = time.process_time()
        fn()
        values.append(time.process_time() - t0)
    return statistics.median(values)


def breakdown() -> tuple[list[tuple[str, float]], int]:
    from procwatch.engine import procfs
    from procwatch.engine.collector import ProcfsCollector
    from procwatch.engine.lineage import Lineage
    from procwatch.engine.model import ProcInfo
    from procwatch.engine.procfs import parse_argv, parse_status, split_stat
    from procwatch.engine.tree import build_rows, children_map

    def rd(path: str) -> bytes:  # other sessions' processes come and go while we measure
        try:
            return procfs.read(path)
        except OSError:
            return b""

    collector = ProcfsCollector()
    pids = collector.pids()
    stats = [rd(f"/proc/{pid}/stat") for pid in pids]
    statuses = [rd(f"/proc/{pid}/status") for pid in pids]
    cmdlines = [rd(f"/proc/{pid}/cmdline") for pid in pids]
    keep = [i for i, raw in enumerate(stats) if raw and statuses[i]]
    pids, stats, statuses, cmdlines = ([seq[i] for i in keep] for seq in (pids, stats, statuses, cmdlines))
    parsed = [split_stat(raw) for raw in stats]
    uids = [parse_status(raw)[0] for raw in statuses]
    users = collector.user_names

    def build_procinfos():
        page_size, clock_ticks, boot_time = collector.page_size, collector.clock_ticks, collector.boot_time
        for pid, (name, f), uid in zip(pids, parsed, uids, strict=True):
            start_ticks = int(f[19])
            cpu_ticks = int(f[11]) + int(f[12])
            ProcInfo(pid=pid, ppid=int(f[1]), start_ticks=start_ticks, uid=uid, user="root", state=f[0].decode(),
                     nice=int(f[16]), threads=int(f[17]), session=int(f[3]), pgrp=int(f[2]), tpgid=int(f[5]),
                     tty_nr=int(f[4]), locked_kb=0, exit_code=int(f[49]) if len(f) > 49 else 0,
                     rss=int(f[21]) * page_size, cpu_ticks=cpu_ticks, cpu_percent=0.0, name=name, argv=(),
                     kernel_thread=bool(int(f[6]) & 0x00200000), started=boot_time + start_ticks / clock_ticks)

    def build_positional():  # the same record built positionally, from a tuple: the cheapest NamedTuple path
        make = ProcInfo._make
        for pid, (name, f), uid in zip(pids, parsed, uids, strict=True):
            make((pid, int(f[1]), int(f[19]), uid, "root", f[0].decode(), int(f[16]), int(f[17]), int(f[3]),
                  int(f[2]), int(f[5]), int(f[4]), 0, 0, int(f[21]) * 4096, int(f[11]) + int(f[12]), 0.0, name,
                  (), False, 0.0))

    collector.sweep()
    snapshot = collector.sweep()
    lineage = Lineage()
    lineage.observe(snapshot)
    steps = [
        ("os.listdir('/proc') + int()", lambda: collector.pids()),
        ("read /proc/PID/stat (open+read+close)", lambda: [rd(f"/proc/{pid}/stat") for pid in pids]),
        ("read /proc/PID/status", lambda: [rd(f"/proc/{pid}/status") for pid in pids]),
        ("read /proc/PID/cmdline (cold path only)", lambda: [rd(f"/proc/{pid}/cmdline") for pid in pids]),
        ("procfs.split_stat (split after last ')')", lambda: [split_stat(raw) for raw in stats]),
        ("parse_status (Uid, VmLck, VmRSS)", lambda: [parse_status(raw) for raw in statuses]),
        ("parse_argv (cold path only)", lambda: [parse_argv(raw) for raw in cmdlines]),
        ("int() fields + ProcInfo(**kwargs)", build_procinfos),
        ("  same, positional ProcInfo._make", build_positional),
        ("user name lookup (cached dict)", lambda: [users(uid) for uid in uids]),
        ("f-string paths (base + 'stat' ...)", lambda: [(f"/proc/{pid}/" + "stat", f"/proc/{pid}/" + "status")
                                                        for pid in pids]),
        ("**whole warm sweep**", collector.sweep),
        ("Lineage.observe (steady)", lambda: lineage.observe(snapshot)),
        ("children_map", lambda: children_map(snapshot.procs)),
        ("build_rows (pid sort)", lambda: build_rows(snapshot.procs)),
    ]
    return [(label, timed(fn)) for label, fn in steps], len(pids)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--pyinstrument", action="store_true")
    args = parser.parse_args(argv)
    with Population(args.n, log=lambda text: print(text, file=sys.stderr, flush=True)):
        results, count = breakdown()
        print(f"\n### Engine breakdown at {count:,} processes (median CPU time of 7 passes)\n")
        print("| step | CPU ms per tick | µs per process |\n|---|---|---|")
        for label, seconds in results:
            print(f"| {label} | {seconds * 1e3:.1f} | {seconds / count * 1e6:.2f} |")
        if args.pyinstrument:
            from pyinstrument import Profiler

            from procwatch.engine.collector import ProcfsCollector
            from procwatch.engine.lineage import Lineage
            from procwatch.engine.tree import build_rows

            collector, lineage = ProcfsCollector(), Lineage()
            lineage.observe(collector.sweep())
            profiler = Profiler(interval=0.0005)
            with profiler:
                for _ in range(10):
                    snapshot = collector.sweep()
                    lineage.observe(snapshot)
                    build_rows(snapshot.procs)
            print(profiler.output_text(unicode=True, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
