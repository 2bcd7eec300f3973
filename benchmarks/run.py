"""procwatch benchmarks: one command, markdown tables of medians (min-max) at 1,000 / 5,000 / 10,000 processes.

    .venv/bin/python benchmarks/run.py                       # all sections at 1,000, 5,000, 10,000 (~10 min)
    .venv/bin/python benchmarks/run.py --sizes 1000,5000 --quick
    .venv/bin/python benchmarks/run.py --sections sweep,build,once,rss --output /tmp/bench.md

N is the number of processes on the machine: the script adds idle processes (benchmarks/idle_procs.py, one
process group, always killed and reaped, also on Ctrl-C or an exception) until about N are running.

Sections (each a function in scenarios.SECTIONS; a section that cannot run prints "skipped: <reason>"):
  sweep   ProcfsCollector().sweep(): warm (steady state, cmdline cached), cold (new collector), psutil path
  build   Lineage.observe + build_rows (tree + sort + flatten), also with a text filter
  ui      UI refresh on the UI thread, headless (the app's run_test): event-loop blocking, key latency
  cpu     steady-state CPU of the real TUI (and its children) in a tmux pty (200x50) over >= 20 s, next to
          `top -d 1`, `htop -t -d 10` and `btop -u 1000` (a tool that is not installed is skipped)
  once    `procwatch --once` wall/CPU time next to `ps -eo pid,ppid,user,stat,args` and `pstree -p`, same run
  rss     peak RSS of the engine (sweep + lineage + rows, no Textual) and of `procwatch --once`

Modules: measure (cells, CPU/RSS of a process tree, timed commands), peers (the other tools), tmux (a pane of a
size), population (N processes), workers (measurements in a fresh interpreter), scenarios (the sections),
report (the markdown). Everything read from /proc goes through procwatch.engine.procfs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import population  # benchmarks/*.py, found next to this script
import report
from measure import Skip
from peers import install_hint
from scenarios import SECTIONS, Context


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,10000", help="processes on the machine, comma-separated")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 6 s CPU windows (below the 20 s target)")
    parser.add_argument("--sections", default=",".join(s.key for s in SECTIONS),
                        help=f"comma-separated subset of {','.join(s.key for s in SECTIONS)}")
    parser.add_argument("--output", help="also write the markdown to this file")
    args = parser.parse_args(argv)
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    wanted = {s.strip() for s in args.sections.split(",")}
    unknown = wanted - {s.key for s in SECTIONS}
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    args.sections = [s for s in SECTIONS if s.key in wanted]
    return args


def run_size(n: int, sections: list[report.Section], quick: bool) -> None:
    """Every section at about n processes on the machine; a broken section does not lose the others."""
    with population.Population(n, log) as crowd:
        ctx = Context(n=n, procs=crowd.procs, quick=quick, repeats=3 if quick else 11,
                      cpu_window=6.0 if quick else 20.0, ui_window=5.0 if quick else 10.0)
        for section in sections:
            log(f"N={n:,}: {section.key} …")
            t0 = time.monotonic()
            try:
                section.rows.extend(section.run(ctx))
            except Skip as skip:
                section.add_problem(n, "skipped", skip)
            except Exception as error:  # one broken section must not lose the others
                section.add_problem(n, "error", f"{type(error).__name__}: {error}")
                log(f"N={n:,}: {section.key} failed: {error!r}")
            log(f"N={n:,}: {section.key} done in {time.monotonic() - t0:.0f} s")


def main(argv: list[str]) -> int:
    args = parse(argv)
    population.prepare()
    limits = population.machine_limits()
    load_start, before = population.loadavg(), population.count()
    log(f"machine: {limits['cpus']} CPUs, {limits['mem_available_kib'] / 1048576:.1f} GiB available, pid_max "
        f"{limits['pid_max']}, ulimit -u {limits['nproc']}; {before} processes running")
    hint = install_hint()
    if hint:
        log(f"some tools to compare with are missing (their rows say skipped): {hint}")
    for n in args.sizes:
        problem = population.size_problem(n, limits)
        if problem:
            log(f"N={n:,}: skipped: {problem}")
            for section in args.sections:
                section.add_problem(n, "skipped", problem)
            continue
        run_size(n, args.sections, args.quick)
    after = population.count()
    head = report.header(limits["cpus"], load_start, population.loadavg(), argv, 3 if args.quick else 11)
    report.publish(report.render(args.sections, head), args.output)
    log(f"processes running: {before} before, {after} after")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
