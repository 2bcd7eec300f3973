"""The sections of the benchmark, in the order they run: each takes the Context of one size, returns table rows.

A section raises Skip (measure.Skip) when it cannot run here; run.py turns that into a "skipped: <reason>" line.
"""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import dataclass

import tui_cpu
from headline import HEADLINE, label
from headline import PROCWATCH as PROCWATCH_NAME
from measure import Skip, mib, ms, peak_rss_kib, per_proc_us, ratio, run_timed, timings
from peers import ONCE_BASELINE, ONCE_PEERS, PROCWATCH, TUI_PEERS, app_launch_problem
from report import Section, padded
from workers import run_json_worker


@dataclass
class Context:
    n: int  # target number of processes on the machine (0: idle, as many as run)
    procs: int  # processes actually seen
    quick: bool
    repeats: int
    cpu_window: float
    ui_window: float
    rounds: int = 3  # rotations of the tools measured alone

    def cells(self, *cells: str, procs: int | None = None, width: int = 0) -> list[str]:
        """A table row: N, procs, then the cells (padded to width with empty ones)."""
        return padded([label(self.n), f"{self.procs if procs is None else procs:,}", *cells], width)


def section_sweep(ctx: Context) -> list[list[str]]:
    from procwatch.engine.collector import ProcfsCollector
    from procwatch.view.collectors import PsutilCollector

    collector = ProcfsCollector()
    snapshot = collector.sweep()  # warm the cmdline cache: steady state is what runs every second
    warm, warm_cpu = [], []
    for _ in range(ctx.repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        snapshot = collector.sweep()
        warm.append(time.perf_counter() - t0)
        warm_cpu.append(time.process_time() - c0)
    count = len(snapshot)
    cold = timings(lambda: ProcfsCollector().sweep(), max(3, ctx.repeats // 3))
    rows = [ctx.cells("procfs, warm (every tick)", ms(warm), ms(warm_cpu), per_proc_us(warm, count), procs=count),
            ctx.cells("procfs, cold (first sweep)", ms(cold), "", per_proc_us(cold, count), procs=count)]
    try:
        portable = PsutilCollector()
        portable.sweep()
        times = timings(portable.sweep, 3 if ctx.n <= 5000 else 2)
        rows.append(ctx.cells("psutil path (portable)", ms(times), "", per_proc_us(times, count), procs=count))
    except ImportError as error:
        rows.append(ctx.cells("psutil path", f"skipped: {error}", procs=count, width=6))
    return rows


def section_build(ctx: Context) -> list[list[str]]:
    from procwatch.engine.collector import ProcfsCollector
    from procwatch.engine.lineage import Lineage
    from procwatch.engine.tree import ProcessFilter, build_rows

    collector = ProcfsCollector()
    lineage = Lineage()
    lineage.observe(collector.sweep())
    snapshots = [collector.sweep() for _ in range(3)]
    count = len(snapshots[-1])
    steps: dict[str, list[float]] = {"observe": [], "pid": [], "cpu": [], "filter": [], "total": []}
    text_filter = ProcessFilter(text="sleep")
    for i in range(ctx.repeats):
        snapshot = snapshots[i % len(snapshots)]
        t0 = time.perf_counter()
        lineage.observe(snapshot)
        t1 = time.perf_counter()
        rows = build_rows(snapshot.procs)
        t2 = time.perf_counter()
        steps["observe"].append(t1 - t0)
        steps["pid"].append(t2 - t1)
        steps["total"].append(t2 - t0)
        t0 = time.perf_counter()
        build_rows(snapshot.procs, sort="cpu")
        steps["cpu"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        matched = build_rows(snapshot.procs, text_filter)
        steps["filter"].append(time.perf_counter() - t0)
    if len(rows) != len(snapshot):
        raise RuntimeError(f"build_rows returned {len(rows)} rows for {len(snapshot)} processes")
    labels = {"observe": "Lineage.observe", "pid": "build_rows (sort pid)", "cpu": "build_rows (sort cpu)",
              "filter": f"build_rows (filter 'sleep': {len(matched):,} rows)",
              "total": "**observe + build_rows (pid)**"}
    return [ctx.cells(text, ms(steps[key]), per_proc_us(steps[key], count), procs=count)
            for key, text in labels.items()]


def section_ui(ctx: Context) -> list[list[str]]:
    r = run_json_worker("ui", ctx.ui_window, timeout=ctx.ui_window + 120)
    HEADLINE.keys[label(ctx.n)] = r["keys"]
    if r["updates"] is not None:
        HEADLINE.refreshes[label(ctx.n)] = (r["updates"], r["elapsed"])
    gaps = sorted(r["gaps"])
    p99 = gaps[int(len(gaps) * 0.99)] if gaps else 0.0
    updates = r["updates"]
    per_refresh = f"{r['blocked_total'] / updates * 1e3:.1f}" if updates else "?"
    handler = ms(r["handler"]) if r["handler"] else "n/a"
    return [ctx.cells(f"{updates} in {r['elapsed']:.0f} s" if updates is not None else "?", handler, per_refresh,
                      f"{p99 * 1e3:.1f}", f"{max(gaps) * 1e3:.1f}" if gaps else "?", ms(r["keys"]),
                      f"{r['key_gaps_max'] * 1e3:.1f}")]


def section_cpu(ctx: Context) -> list[list[str]]:
    if not shutil.which("tmux"):
        raise Skip("tmux is not installed (apt-get install tmux)")
    runnable, rows = [], []
    for peer in TUI_PEERS:
        reason = app_launch_problem() if peer.package is None else peer.problem()
        if reason is None:
            runnable.append(peer)
        else:
            rows.append(ctx.cells(peer.name, f"skipped: {reason}", width=9))
    run = tui_cpu.run(runnable, ctx.cpu_window, ctx.rounds)
    HEADLINE.cpu[label(ctx.n)], HEADLINE.procs[label(ctx.n)] = run, ctx.procs
    for peer in runnable:
        name = peer.name
        together, alone = run.together.get(name), run.alone.get(name)
        if name in run.problems and not alone:
            rows.append(ctx.cells(name, f"skipped: {run.problems[name]}", width=9))
            continue
        percents = [r.percent for r in alone or []]
        rows.append(ctx.cells(
            name, f"{together.percent:.1f}" if together else "?",
            f"{statistics.median(percents):.1f} ({min(percents):.1f}–{max(percents):.1f})" if percents else "?",
            "" if name == PROCWATCH_NAME else _x(HEADLINE.ratio(label(ctx.n), name, True)),
            "" if name == PROCWATCH_NAME else _x(HEADLINE.ratio(label(ctx.n), name, False)),
            mib(statistics.median(r.rss_kib for r in alone)) if alone else "?",
            mib(max(r.hwm_kib for r in alone)) if alone else "?"))
    return rows


def _x(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def section_once(ctx: Context) -> list[list[str]]:
    reasons = {peer.name: peer.problem() for peer in ONCE_PEERS}
    results: dict[str, tuple[list[float], list[float]]] = {peer.name: ([], []) for peer in ONCE_PEERS}
    for _ in range(ctx.repeats):  # round robin: drift hits every tool alike
        for peer in ONCE_PEERS:
            if reasons[peer.name] is None:
                try:
                    wall, cpu_time = run_timed(list(peer.argv))
                except Skip as skip:
                    reasons[peer.name] = str(skip)
                    continue
                results[peer.name][0].append(wall)
                results[peer.name][1].append(cpu_time)
    baseline = results[ONCE_BASELINE][0]
    HEADLINE.once[label(ctx.n)] = {name: statistics.median(wall) for name, (wall, _) in results.items() if wall}
    rows = []
    for peer in ONCE_PEERS:
        wall, cpu_time = results[peer.name]
        if reasons[peer.name] is not None or not wall:
            rows.append(ctx.cells(f"`{peer.name}`", f"skipped: {reasons[peer.name]}", width=7))
            continue
        rss = peak_rss_kib(list(peer.argv))
        rows.append(ctx.cells(f"`{peer.name}`", ms(wall, 0), ms(cpu_time, 0),
                              ratio(statistics.median(wall), statistics.median(baseline)) if baseline else "",
                              mib(rss) if rss else "?"))
    return rows


def section_rss(ctx: Context) -> list[list[str]]:
    result = run_json_worker("rss", 5, timeout=300)
    once_rss = peak_rss_kib([PROCWATCH, "--once"])
    return [ctx.cells(mib(result["baseline_kib"]), mib(result["peak_kib"]),
                      mib(result["peak_kib"] - result["baseline_kib"]), mib(result["current_kib"]),
                      mib(once_rss) if once_rss else "?", procs=result["procs"])]


SECTIONS = [
    Section("sweep", "Collector sweep", ["N", "procs", "path", "wall ms, median (min–max)", "CPU ms", "µs/proc"],
            section_sweep),
    Section("build", "Lineage + tree + flatten", ["N", "procs", "step", "ms, median (min–max)", "µs/proc"],
            section_build),
    Section("ui", "UI refresh on the UI thread (headless run_test, 200x50, real collector, 1 s interval)",
            ["N", "procs", "refreshes (phase 1)", "snapshot handler ms", "UI thread blocked ms per refresh",
             "block p99 ms", "max block ms", "key press to repaint ms (phase 2)", "max block with keys ms"],
            section_ui,
            note="Phase 1: refreshes only; phase 2: a Down key every 200 ms, handed over as the terminal driver "
                 "does, timed until the screen was painted with the cursor moved. Blocking = every gap of a 2 ms asyncio ticker beyond its sleep: UI-thread work or the "
                 "GIL held by the poller thread, both felt by the user."),
    Section("cpu", "Steady-state CPU in a pty (tmux 160x45, 1 s refresh), together and alone in rotation",
            ["N", "procs", "tool", "together: CPU %", "alone: CPU %, median (min–max)", "procwatch / tool, together",
             "procwatch / tool, alone", "RSS MiB (alone)", "peak RSS MiB"], section_cpu,
            note="CPU % of one core of the tool's process tree after a 4 s warm-up. Together: every tool in its own "
                 "pane at the same time, same window. Alone: one tool at a time in rotation (A B C D A B C D ...). "
                 "btop: a temporary XDG_CONFIG_HOME with `proc_tree = True`, `shown_boxes = \"proc\"`."),
    Section("once", "`procwatch --once` next to ps and pstree (same run, round robin)",
            ["N", "procs", "command", "wall ms, median (min–max)", "CPU ms", "wall / ps", "peak RSS MiB"],
            section_once, note="Output to /dev/null. `python -c pass` and `procwatch --version` show the start-up alone."),
    Section("rss", "Peak RSS", ["N", "procs", "engine baseline MiB (imports)", "engine peak MiB",
                                "engine growth MiB", "engine RSS after MiB", "`procwatch --once` peak MiB"],
            section_rss,
            note="Engine = 5 x (sweep + observe + build_rows) in a fresh interpreter (VmHWM); `--once` via GNU time. "
                 "For the TUI see the cpu table."),
]
