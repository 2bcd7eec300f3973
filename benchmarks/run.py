"""procwatch benchmarks: one command, markdown tables of medians (min-max) on an idle machine and at 1,000 / 5,000 /
10,000 processes, next to htop, btop and top, with the targets of issue 12 met or missed.

    .venv/bin/python benchmarks/run.py                       # everything: idle, 1,000, 5,000, 10,000 (~35 min)
    .venv/bin/python benchmarks/run.py --sizes idle --sections cpu --rounds 5
    .venv/bin/python benchmarks/run.py --sizes 1000,5000 --quick
    .venv/bin/python benchmarks/run.py --sections sweep,build,once,rss --output /tmp/bench.md

N is the number of processes on the machine ("idle": as many as already run): the script adds idle processes
(benchmarks/idle_procs.py, one process group, always killed and reaped, also on Ctrl-C or an exception) until
about N are running. It installs nothing: a missing tool is named (`apt-get install htop btop`) and skipped.

Sections (each a function in scenarios.SECTIONS; a section that cannot run prints "skipped: <reason>"):
  sweep   ProcfsCollector().sweep(): warm (steady state, cmdline cached), cold (new collector), psutil path
  build   Lineage.observe + build_rows (tree + sort + flatten), also with a text filter
  ui      UI refresh on the UI thread, headless (the app's run_test): event-loop blocking, key latency
  cpu     steady-state CPU of the real TUI (and its children) in a tmux pty (160x45), next to `htop -t`, btop in
          tree mode and `top -d 1`: all together in one window, then each alone in rotation (tui_cpu.py)
  once    `procwatch --once` wall/CPU time next to `ps -eo pid,ppid,user,stat,args` and `pstree -p`, round
          robin; `procwatch --version` and `python -c pass` for the start-up alone
  rss     peak RSS of the engine (sweep + lineage + rows, no Textual) and of `procwatch --once`

Modules: measure (cells, CPU/RSS of a process tree, timed commands), peers (the other tools), tmux (a pane of a
size), population (N processes), workers (measurements in a fresh interpreter), scenarios (the sections),
report (the markdown), tui_cpu (together / alone), headline (the summary table and the targets). Everything read from /proc goes through procwatch.engine.procfs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import population  # benchmarks/*.py, found next to this script
import report
from headline import HEADLINE, label
from measure import Skip
from peers import TUI_PEERS, install_hint
from scenarios import SECTIONS, Context


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="idle,1000,5000,10000",
                        help="processes on the machine, comma-separated; idle: add none")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 8 s CPU windows, 2 rotations")
    parser.add_argument("--rounds", type=int, help="rotations of the tools measured alone (default 3, quick 2)")
    parser.add_argument("--cpu-window", type=float, help="seconds of each CPU window (default 20, idle 30)")
    parser.add_argument("--sections", default=",".join(s.key for s in SECTIONS),
                        help=f"comma-separated subset of {','.join(s.key for s in SECTIONS)}")
    parser.add_argument("--output", help="also write the markdown to this file")
    args = parser.parse_args(argv)
    try:
        args.sizes = [0 if s.strip() == "idle" else int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes: numbers or idle, not {args.sizes!r}")
    wanted = {s.strip() for s in args.sections.split(",")}
    unknown = wanted - {s.key for s in SECTIONS}
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    args.sections = [s for s in SECTIONS if s.key in wanted]
    return args


def run_size(n: int, sections: list[report.Section], args: argparse.Namespace) -> None:
    """Every section at about n processes on the machine; a broken section does not lose the others."""
    quick = args.quick
    window = args.cpu_window or (8.0 if quick else 30.0 if n == 0 else 20.0)  # idle: few ticks, longer windows
    with population.Population(n, log) as crowd:
        ctx = Context(n=n, procs=crowd.procs, quick=quick, repeats=3 if quick else 11, cpu_window=window,
                      ui_window=5.0 if quick else 10.0, rounds=args.rounds or (2 if quick else 3))
        for section in sections:
            log(f"N={label(n)}: {section.key} …")
            t0 = time.monotonic()
            try:
                section.rows.extend(section.run(ctx))
            except Skip as skip:
                section.add_problem(n, "skipped", skip)
            except Exception as error:  # one broken section must not lose the others
                section.add_problem(n, "error", f"{type(error).__name__}: {error}")
                log(f"N={label(n)}: {section.key} failed: {error!r}")
            log(f"N={label(n)}: {section.key} done in {time.monotonic() - t0:.0f} s")


def compile_bytecode() -> None:
    """Write procwatch's .pyc files, as installing a wheel does: where PYTHONDONTWRITEBYTECODE is set (as on this
    project's machine) an editable install would otherwise compile every module at every start of `--once`."""
    import compileall

    import procwatch

    compileall.compile_dir(str(Path(procwatch.__file__).parent), quiet=1)


def main(argv: list[str]) -> int:
    args = parse(argv)
    compile_bytecode()
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
            log(f"N={label(n)}: skipped: {problem}")
            for section in args.sections:
                section.add_problem(n, "skipped", problem)
            continue
        run_size(n, args.sections, args)
    after = population.count()
    head = report.header(limits["cpus"], load_start, population.loadavg(), argv, 3 if args.quick else 11)
    tools = [peer.name for peer in TUI_PEERS]
    summary = f"{HEADLINE.table(tools)}\n\n{HEADLINE.targets()}\n" if HEADLINE.cpu or HEADLINE.once else ""
    report.publish(report.render(args.sections, head, summary), args.output)
    log(f"processes running: {before} before, {after} after")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
