"""procwatch benchmarks: one command, markdown tables of medians (min-max) at 1,000 / 5,000 / 10,000 processes.

    .venv/bin/python benchmarks/run.py                       # all sections at 1,000, 5,000, 10,000 (~10 min)
    .venv/bin/python benchmarks/run.py --sizes 1000,5000 --quick
    .venv/bin/python benchmarks/run.py --sections sweep,build,once,rss --output /tmp/bench.md

N is the number of processes on the machine: the script adds idle processes (benchmarks/idle_procs.py, one
process group, always killed and reaped, also on Ctrl-C or an exception) until about N are running.

Sections (each a function in SECTIONS; a section that cannot run prints "skipped: <reason>"):
  sweep   ProcfsCollector().sweep(): warm (steady state, cmdline cached), cold (new collector), psutil path
  build   Lineage.observe + build_rows (tree + sort + flatten), also with a text filter
  ui      UI refresh on the UI thread, headless (the app's run_test): event-loop blocking, key latency
  cpu     steady-state CPU of the real TUI in a tmux pty (200x50) over >= 20 s, next to `top -d 1` and
          `htop -t -d 10` (a tool that is not installed is skipped)
  once    `procwatch --once` wall/CPU time next to `ps -eo pid,ppid,user,stat,args` and `pstree -p`, same run
  rss     peak RSS of the engine (sweep + lineage + rows, no Textual) and of `procwatch --once`
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import idle_procs  # noqa: E402  (benchmarks/idle_procs.py)

PYTHON = sys.executable
PROCWATCH = str(Path(sys.executable).parent / "procwatch")


class Skip(Exception):
    """A section (or one tool in it) cannot run here: the reason is printed instead of numbers."""


# ----------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------

def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def ms(values: list[float], digits: int = 1) -> str:
    """'median (min-max)' in milliseconds."""
    med, lo, hi = stats(values)
    return f"{med * 1e3:.{digits}f} ({lo * 1e3:.{digits}f}–{hi * 1e3:.{digits}f})"


def per_proc_us(values: list[float], count: int) -> str:
    return f"{statistics.median(values) / max(count, 1) * 1e6:.1f}"


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def cpu_seconds() -> float:
    return time.process_time()


def proc_cpu_ticks(pid: int) -> int | None:
    """utime + stime of every thread of pid (not its children), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def start_ticks(pid: int) -> int | None:
    """Start time of pid (stat field 22): with the pid, the identity of a process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def proc_status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_timed(argv: list[str], timeout: float = 120.0) -> tuple[float, float]:
    """Run argv with output to /dev/null; (wall seconds, CPU seconds user+sys from wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)  # our unreaped child leads this group
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise Skip(f"{argv[0]} took more than {timeout:.0f} s")
        time.sleep(0.0005)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise Skip(f"{' '.join(argv)} exited with status {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def peak_rss_kib(argv: list[str], timeout: float = 120.0) -> int | None:
    """Peak RSS of argv via GNU time. (wait4's ru_maxrss is useless here: a child created by vfork/fork of this
    process keeps this interpreter's high-water mark across exec.)"""
    if not Path("/usr/bin/time").exists():
        return None
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout)
        text = out.read().strip()
    return int(text.splitlines()[-1]) if done.returncode == 0 and text else None


def run_json_worker(args: list[str], timeout: float) -> dict:
    """Run this script as a worker in a subprocess (isolation: a crash or a hang of the code under test cannot
    take the benchmark down); it prints one JSON object on its last stdout line."""
    proc = subprocess.Popen([PYTHON, str(Path(__file__).resolve()), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise Skip(f"worker {args[0]} took more than {timeout:.0f} s") from None
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    lines = [line for line in out.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        tail = (err.strip().splitlines() or ["no output"])[-1]
        raise Skip(f"worker {args[0]} failed: {tail[:200]}")
    result = json.loads(lines[-1])
    if "skip" in result:
        raise Skip(result["skip"])
    return result


# ----------------------------------------------------------------------------------------------------------------
# Sections. Each gets the Context of one size and returns table rows (lists of cells); HEADERS below.
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class Context:
    n: int  # target number of processes on the machine
    procs: int  # processes actually seen
    quick: bool
    group: idle_procs.IdleProcs | None
    repeats: int
    cpu_window: float
    ui_window: float


def section_sweep(ctx: Context) -> list[list[str]]:
    from procwatch.engine.collector import ProcfsCollector
from procwatch.view.collectors import PsutilCollector

    collector = ProcfsCollector()
    snapshot = collector.sweep()  # warm the cmdline cache: steady state is what runs every second
    warm, warm_cpu = [], []
    for _ in range(ctx.repeats):
        c0, t0 = cpu_seconds(), time.perf_counter()
        snapshot = collector.sweep()
        warm.append(time.perf_counter() - t0)
        warm_cpu.append(cpu_seconds() - c0)
    count = len(snapshot)
    cold = []
    for _ in range(max(3, ctx.repeats // 3)):
        fresh = ProcfsCollector()
        t0 = time.perf_counter()
        fresh.sweep()
        cold.append(time.perf_counter() - t0)
    rows = [
        [f"{ctx.n:,}", f"{count:,}", "procfs, warm (every tick)", ms(warm), ms(warm_cpu), per_proc_us(warm, count)],
        [f"{ctx.n:,}", f"{count:,}", "procfs, cold (first sweep)", ms(cold), "", per_proc_us(cold, count)],
    ]
    try:
        ps_collector = PsutilCollector()
        ps_collector.sweep()
        times = []
        for _ in range(3 if ctx.n <= 5000 else 2):
            t0 = time.perf_counter()
            ps_collector.sweep()
            times.append(time.perf_counter() - t0)
        rows.append([f"{ctx.n:,}", f"{count:,}", "psutil path (portable)", ms(times), "", per_proc_us(times, count)])
    except ImportError as error:
        rows.append([f"{ctx.n:,}", f"{count:,}", "psutil path", f"skipped: {error}", "", ""])
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
    observe, rows_pid, rows_cpu, rows_filter, total = [], [], [], [], []
    text_filter = ProcessFilter(text="sleep")
    for i in range(ctx.repeats):
        snapshot = snapshots[i % len(snapshots)]
        t0 = time.perf_counter()
        lineage.observe(snapshot)
        t1 = time.perf_counter()
        rows = build_rows(snapshot.procs)
        t2 = time.perf_counter()
        observe.append(t1 - t0)
        rows_pid.append(t2 - t1)
        total.append(t2 - t0)
        t0 = time.perf_counter()
        build_rows(snapshot.procs, sort="cpu")
        rows_cpu.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        matched = build_rows(snapshot.procs, text_filter)
        rows_filter.append(time.perf_counter() - t0)
    if len(rows) != len(snapshot):
        raise RuntimeError(f"build_rows returned {len(rows)} rows for {len(snapshot)} processes")
    n, c = f"{ctx.n:,}", f"{count:,}"
    return [
        [n, c, "Lineage.observe", ms(observe), per_proc_us(observe, count)],
        [n, c, "build_rows (sort pid)", ms(rows_pid), per_proc_us(rows_pid, count)],
        [n, c, "build_rows (sort cpu)", ms(rows_cpu), per_proc_us(rows_cpu, count)],
        [n, c, f"build_rows (filter 'sleep': {len(matched):,} rows)", ms(rows_filter), per_proc_us(rows_filter, count)],
        [n, c, "**observe + build_rows (pid)**", ms(total), per_proc_us(total, count)],
    ]


def section_once(ctx: Context) -> list[list[str]]:
    commands = {
        "procwatch --once": [PROCWATCH, "--once"],
        "procwatch --once --json": [PROCWATCH, "--once", "--json"],
        "ps -eo pid,ppid,user,stat,args": ["ps", "-eo", "pid,ppid,user,stat,args"],
        "pstree -p": ["pstree", "-p"],
    }
    available = {name: argv for name, argv in commands.items() if shutil.which(argv[0])}
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in available}
    errors: dict[str, str] = {}
    for _ in range(ctx.repeats):  # round robin: drift hits every tool alike
        for name, argv in available.items():
            if name in errors:
                continue
            try:
                wall, cpu = run_timed(argv)
            except Skip as skip:
                errors[name] = str(skip)
                continue
            results[name][0].append(wall)
            results[name][1].append(cpu)
    ps_wall = results.get("ps -eo pid,ppid,user,stat,args", ([],))[0]
    rows = []
    for name in commands:
        if name not in available or name in errors or not results[name][0]:
            reason = errors.get(name, "not installed")
            rows.append([f"{ctx.n:,}", f"{ctx.procs:,}", f"`{name}`", f"skipped: {reason}", "", "", ""])
            continue
        wall, cpu = results[name]
        ratio = f"{statistics.median(wall) / statistics.median(ps_wall):.2f}" if ps_wall else ""
        rss = peak_rss_kib(available[name])
        rows.append([f"{ctx.n:,}", f"{ctx.procs:,}", f"`{name}`", ms(wall, 0), ms(cpu, 0), ratio,
                     mib(rss) if rss else "?"])
    return rows


def section_rss(ctx: Context) -> list[list[str]]:
    result = run_json_worker(["--rss-worker", str(5)], timeout=300)
    once_rss = peak_rss_kib([PROCWATCH, "--once"])
    return [[f"{ctx.n:,}", f"{result['procs']:,}", mib(result["baseline_kib"]), mib(result["peak_kib"]),
             mib(result["peak_kib"] - result["baseline_kib"]), mib(result["current_kib"]),
             mib(once_rss) if once_rss else "?"]]


def rss_worker(sweeps: int) -> dict:
    """In a fresh interpreter: import the engine, then sweep + observe + build_rows `sweeps` times."""
    from procwatch.engine.collector import ProcfsCollector
    from procwatch.engine.lineage import Lineage
    from procwatch.engine.tree import build_rows

    baseline = proc_status_kib(os.getpid(), "VmHWM")  # this mm's own high-water mark (fresh since exec)
    collector, lineage = ProcfsCollector(), Lineage()
    keep = None
    for _ in range(sweeps):
        snapshot = collector.sweep()
        observations = lineage.observe(snapshot)
        rows = build_rows(snapshot.procs)
        keep = (observations, rows)  # what a UI holds between ticks
    return {"procs": len(keep[0].snapshot), "baseline_kib": baseline,
            "peak_kib": proc_status_kib(os.getpid(), "VmHWM"),
            "current_kib": proc_status_kib(os.getpid(), "VmRSS")}


# -- UI refresh on the UI thread (headless) ---------------------------------------------------------------------

def make_headless_app(interval: float = 1.0):
    """The one place that knows how to build the app for a headless run. Adapt here when the app's API changes.
    Returns an App that refreshes from the real /proc collector; raises Skip when the app is not there yet."""
    import inspect

    try:
        from procwatch import app as app_module
    except Exception as error:  # noqa: BLE001 - the TUI may be half-written: any import error means "not yet"
        raise Skip(f"procwatch.ui.app is not importable ({type(error).__name__}: {error})") from None
    from procwatch.view.collectors import make_collector

    factory = getattr(app_module, "make_app", None)
    if factory is None:
        raise Skip("procwatch.ui.app has no make_app(collector=...) factory yet")
    wanted = {"collector": make_collector(), "interval": interval, "sandbox": False}
    accepted = inspect.signature(factory).parameters
    if "collector" not in accepted:
        raise Skip("make_app() takes no collector argument")
    return factory(**{k: v for k, v in wanted.items() if k in accepted})


def ui_worker(seconds: float) -> dict:
    """Headless run_test at 200x50 with the real collector. Measures, on the UI thread (the asyncio loop):
    - loop blocking: a 2 ms ticker; every gap beyond its sleep is time the loop could not run (work on the UI
      thread, or the GIL held by the poller thread: both are what a user feels);
    - the snapshot handler itself (when the app has `on_snapshot_ready`: timed by wrapping the class method);
    - key latency: `pilot.press("down")` while refreshes run (includes waiting for the screen to settle)."""
    import asyncio

    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    try:
        app = make_headless_app()
    except Skip as skip:
        return {"skip": str(skip)}
    handler_times: list[float] = []
    cls = type(app)
    original = cls.__dict__.get("on_snapshot_ready")
    if original is not None:
        def timed(self, message, _original=original):
            t0 = time.perf_counter()
            try:
                return _original(self, message)
            finally:
                handler_times.append(time.perf_counter() - t0)
        timed.__name__ = "on_snapshot_ready"
        setattr(cls, "on_snapshot_ready", timed)

    def updates() -> int | None:
        value = getattr(app, "updates", None)
        return value if isinstance(value, int) else None

    async def main() -> dict:
        gaps: list[float] = []
        keys: list[float] = []
        running = True

        async def ticker() -> None:
            while running:
                t0 = time.perf_counter()
                await asyncio.sleep(0.002)
                gaps.append(time.perf_counter() - t0 - 0.002)

        async with app.run_test(size=(200, 50)) as pilot:
            deadline = time.monotonic() + 30
            while (updates() or 0) < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if updates() is None:
                await asyncio.sleep(3)  # no counter to wait on: give it a few refreshes
            elif updates() < 1:
                return {"skip": "no refresh reached the UI within 30 s"}
            handler_times.clear()
            first = updates()
            task = asyncio.create_task(ticker())
            await asyncio.sleep(seconds / 2)  # phase 1: refreshes only
            idle_gaps, gaps[:] = list(gaps), []
            done = (updates() - first) if first is not None else None
            t_start = time.monotonic()
            while time.monotonic() - t_start < seconds / 2:  # phase 2: a key press every 200 ms
                t0 = time.perf_counter()
                await pilot.press("down")
                keys.append(time.perf_counter() - t0)
                await asyncio.sleep(0.2)
            running = False
            await task
        blocked = [g for g in idle_gaps if g > 0.001]
        return {"elapsed": seconds / 2, "updates": done, "gaps": idle_gaps, "blocked_total": sum(blocked),
                "key_gaps_max": max(gaps, default=0.0), "keys": keys, "handler": handler_times}

    return asyncio.run(main())


def section_ui(ctx: Context) -> list[list[str]]:
    r = run_json_worker(["--ui-worker", str(ctx.ui_window)], timeout=ctx.ui_window + 120)
    gaps = sorted(r["gaps"])
    p99 = gaps[int(len(gaps) * 0.99)] if gaps else 0.0
    updates = r["updates"]
    per_refresh = f"{r['blocked_total'] / updates * 1e3:.1f}" if updates else "?"
    handler = ms(r["handler"]) if r["handler"] else "n/a"
    return [[f"{ctx.n:,}", f"{ctx.procs:,}", f"{updates} in {r['elapsed']:.0f} s" if updates is not None else "?",
             handler, per_refresh, f"{p99 * 1e3:.1f}", f"{max(gaps) * 1e3:.1f}" if gaps else "?", ms(r["keys"]),
             f"{r['key_gaps_max'] * 1e3:.1f}"]]


# -- steady-state CPU of the real TUI in a pty --------------------------------------------------------------------

TUI_TOOLS: dict[str, list[str]] = {
    "procwatch": [PROCWATCH, "--no-sandbox", "--interval", "1"],
    "top -d 1": ["top", "-d", "1"],
    "htop -t -d 10": ["htop", "-t", "-d", "10"],
}


def app_launch_problem() -> str | None:
    """Why the TUI cannot be launched yet (None when it can)."""
    if not Path(PROCWATCH).exists():
        return f"{PROCWATCH} not found"
    probe = subprocess.run([PYTHON, "-c", "import procwatch.ui.app as a; assert hasattr(a, 'run_app')"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"procwatch.ui.app is not importable yet ({last[:160]})"
    return None


class TmuxPane:
    """One command in a detached tmux session of its own server (-L socket), 200x50. Always torn down."""

    def __init__(self, argv: list[str], width: int = 200, height: int = 50) -> None:
        self.socket = f"procwatch-bench-{os.getpid()}"
        self.argv = argv
        self.size = (width, height)
        self.pane_pid: int | None = None
        self.server_pid: int | None = None
        self.pane_start = self.server_start = None
        self.socket_path: str | None = None

    def _tmux(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True,
                              text=True, timeout=20, check=check).stdout

    def __enter__(self) -> "TmuxPane":
        import shlex

        command = "exec " + " ".join(shlex.quote(a) for a in self.argv)
        self._tmux("new-session", "-d", "-s", "bench", "-x", str(self.size[0]), "-y", str(self.size[1]), command)
        try:
            self.server_pid = int(self._tmux("display-message", "-p", "-t", "bench", "#{pid}").strip())
            self.socket_path = self._tmux("display-message", "-p", "-t", "bench", "#{socket_path}").strip() or None
            self.pane_pid = int(self._tmux("list-panes", "-t", "bench", "-F", "#{pane_pid}").strip())
            self.server_start, self.pane_start = start_ticks(self.server_pid), start_ticks(self.pane_pid)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def alive(self) -> bool:
        """The pane's process is still the one we started and not a zombie."""
        if self.pane_pid is None or start_ticks(self.pane_pid) != self.pane_start:
            return False
        try:
            with open(f"/proc/{self.pane_pid}/stat", "rb") as f:
                return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
        except OSError:
            return False

    def capture(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "bench", check=False)

    def close(self) -> None:
        self._tmux("kill-server", check=False)  # SIGHUP to the pane's process
        # The server, then the pane process, are re-parented to us (we are a child subreaper): reap them, server
        # first (the pane becomes our child only once the server is gone). A pane process that outlives the
        # SIGHUP is killed after checking it is still the process we started (same start time).
        for pid, start in ((self.server_pid, self.server_start), (self.pane_pid, self.pane_start)):
            if pid is None:
                continue
            kill_at, give_up, killed = time.monotonic() + 5, time.monotonic() + 15, False
            while True:
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                    if done:
                        break
                except ChildProcessError:
                    if start_ticks(pid) != start:
                        break  # gone (reaped by someone else), or another process now
                now = time.monotonic()
                if now > give_up:
                    print(f"benchmarks: warning: process {pid} did not go away", file=sys.stderr)
                    break
                if now > kill_at and not killed and start_ticks(pid) == start:
                    os.kill(pid, signal.SIGKILL)
                    killed = True
                time.sleep(0.02)
        self.pane_pid = self.server_pid = None
        if self.socket_path and os.path.basename(self.socket_path) == self.socket:  # the server left its socket
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass
        self.socket_path = None


def measure_tui_cpu(argv: list[str], window: float, warmup: float = 4.0) -> tuple[float, int | None, int | None]:
    """(CPU % of one core, RSS KiB, peak RSS KiB) of the process running argv in a tmux pane, over `window` s."""
    with TmuxPane(argv) as pane:
        time.sleep(warmup)
        t0, c0 = time.monotonic(), proc_cpu_ticks(pane.pane_pid)
        if c0 is None or not pane.alive():
            raise Skip(f"{argv[0]} exited at start: {' '.join(pane.capture().split())[-160:]!r}")
        time.sleep(window)
        c1, t1 = proc_cpu_ticks(pane.pane_pid), time.monotonic()
        if c1 is None or not pane.alive():
            raise Skip(f"{argv[0]} exited during the window: {' '.join(pane.capture().split())[-160:]!r}")
        rss, hwm = proc_status_kib(pane.pane_pid, "VmRSS"), proc_status_kib(pane.pane_pid, "VmHWM")
    return (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0) * 100, rss, hwm


def section_cpu(ctx: Context) -> list[list[str]]:
    if not shutil.which("tmux"):
        raise Skip("tmux is not installed")
    rows: list[list[str]] = []
    measured: dict[str, float] = {}
    for name, argv in TUI_TOOLS.items():
        reason = None
        if name == "procwatch":
            reason = app_launch_problem()
        elif not shutil.which(argv[0]):
            reason = f"{argv[0]} is not installed"
        if reason is None:
            try:
                percent, rss, hwm = measure_tui_cpu(argv, ctx.cpu_window)
            except Skip as skip:
                reason = str(skip)
        if reason is not None:
            rows.append([f"{ctx.n:,}", f"{ctx.procs:,}", name, f"skipped: {reason}", "", "", "", ""])
            continue
        measured[name] = percent
        rows.append([f"{ctx.n:,}", f"{ctx.procs:,}", name, f"{percent:.1f} %", f"{percent * 10:.0f}",
                     "", mib(rss or 0), mib(hwm or 0)])
    for row in rows:  # ratio column: procwatch / tool, filled once everyone ran
        if "procwatch" in measured and row[2] in measured and row[2] != "procwatch":
            row[5] = f"{measured['procwatch'] / measured[row[2]]:.2f}" if measured[row[2]] else "∞"
    return rows


@dataclass
class Section:
    key: str
    title: str
    headers: list[str]
    run: Callable[[Context], list[list[str]]]
    note: str = ""
    rows: list[list[str]] = field(default_factory=list)


SECTIONS = [
    Section("sweep", "Collector sweep", ["N", "procs", "path", "wall ms, median (min–max)", "CPU ms", "µs/proc"],
            section_sweep),
    Section("build", "Lineage + tree + flatten", ["N", "procs", "step", "ms, median (min–max)", "µs/proc"],
            section_build),
    Section("ui", "UI refresh on the UI thread (headless run_test, 200x50, real collector, 1 s interval)",
            ["N", "procs", "refreshes (phase 1)", "snapshot handler ms", "UI thread blocked ms per refresh",
             "block p99 ms", "max block ms", "key press ms (phase 2)", "max block with keys ms"], section_ui,
            note="Phase 1: refreshes only; phase 2: `pilot.press('down')` every 200 ms (time until the screen "
                 "settled). Blocking = every gap of a 2 ms asyncio ticker beyond its sleep: UI-thread work or the "
                 "GIL held by the poller thread, both felt by the user. Target 2: max block <= 50 ms at 10,000."),
    Section("cpu", "Steady-state CPU in a pty (tmux 200x50, 1 s refresh)",
            ["N", "procs", "tool", "CPU % of one core", "CPU ms per s", "procwatch / tool", "RSS MiB",
             "peak RSS MiB"], section_cpu,
            note="Tools run one after another, each measured over the same window after a warm-up. "
                 "Target 1: procwatch <= 0.5 x htop -t at 5,000."),
    Section("once", "`procwatch --once` next to ps and pstree (same run, round robin)",
            ["N", "procs", "command", "wall ms, median (min–max)", "CPU ms", "wall / ps", "peak RSS MiB"],
            section_once, note="Output to /dev/null. Target 3: procwatch --once wall <= ps at 5,000."),
    Section("rss", "Peak RSS", ["N", "procs", "engine baseline MiB (imports)", "engine peak MiB",
                                "engine growth MiB", "engine RSS after MiB", "`procwatch --once` peak MiB"],
            section_rss,
            note="Engine = 5 x (sweep + observe + build_rows) in a fresh interpreter (VmHWM); `--once` via GNU time. "
                 "Target 4: <= 100 MB at 10,000 for the whole app (see the cpu table for the TUI)."),
]


# ----------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------

def machine_limits() -> dict[str, int]:
    def read_int(path: str) -> int:
        try:
            return int(Path(path).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 1 << 30

    mem_available = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            mem_available = int(line.split()[1])
    nproc_soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    return {"pid_max": read_int("/proc/sys/kernel/pid_max"), "threads_max": read_int("/proc/sys/kernel/threads-max"),
            "nproc": nproc_soft if nproc_soft != resource.RLIM_INFINITY else 1 << 30,
            "mem_available_kib": mem_available, "cpus": os.cpu_count() or 1}


def size_problem(n: int, limits: dict[str, int]) -> str | None:
    running = idle_procs.count_processes()
    if n + 1000 > min(limits["pid_max"], limits["threads_max"], limits["nproc"]):
        return (f"{n:,} processes do not fit under pid_max {limits['pid_max']}, threads-max {limits['threads_max']}"
                f" or ulimit -u {limits['nproc']} with a margin of 1,000")
    if (n - running) * 400 > limits["mem_available_kib"] // 2:  # ~0.3 MiB each, measured; keep half the memory
        return f"{n:,} idle processes need ~{(n - running) * 0.4 / 1024:.1f} GiB, more than half the free memory"
    return None


def render(sections: list[Section], header: str) -> str:
    out = [header]
    for section in sections:
        out.append(f"\n### {section.title}\n")
        if section.note:
            out.append(section.note + "\n")
        out.append("| " + " | ".join(section.headers) + " |")
        out.append("|" + "---|" * len(section.headers))
        for row in section.rows:
            if len(row) == 1:  # a skip line spanning the table
                row = [row[0]] + [""] * (len(section.headers) - 1)
            out.append("| " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,10000", help="processes on the machine, comma-separated")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 6 s CPU windows (below the 20 s target)")
    parser.add_argument("--sections", default=",".join(s.key for s in SECTIONS),
                        help=f"comma-separated subset of {','.join(s.key for s in SECTIONS)}")
    parser.add_argument("--output", help="also write the markdown to this file")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    wanted = {s.strip() for s in args.sections.split(",")}
    unknown = wanted - {s.key for s in SECTIONS}
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    sections = [s for s in SECTIONS if s.key in wanted]
    idle_procs.install_cleanup_handlers()
    idle_procs._prctl(idle_procs.PR_SET_CHILD_SUBREAPER, 1)  # orphans of tmux & co. come back to us to be reaped

    limits = machine_limits()
    load_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    before = idle_procs.count_processes()
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    log(f"machine: {limits['cpus']} CPUs, {limits['mem_available_kib'] / 1048576:.1f} GiB available, pid_max "
        f"{limits['pid_max']}, ulimit -u {limits['nproc']}; {before} processes running")
    for n in sizes:
        problem = size_problem(n, limits)
        if problem:
            log(f"N={n:,}: skipped: {problem}")
            for section in sections:
                section.rows.append([f"{n:,}: skipped: {problem}"])
            continue
        extra = n - idle_procs.count_processes()
        group = idle_procs.IdleProcs(extra, lifetime=3600) if extra > 0 else None
        try:
            if group is not None:
                group.start()
                log(f"N={n:,}: started {extra:,} idle processes in {group.start_seconds:.1f} s (group {group.pgid})")
            time.sleep(1.0)  # let the forks settle
            ctx = Context(n=n, procs=idle_procs.count_processes(), quick=args.quick, group=group,
                          repeats=3 if args.quick else 11, cpu_window=6.0 if args.quick else 20.0,
                          ui_window=5.0 if args.quick else 10.0)
            for section in sections:
                log(f"N={n:,}: {section.key} …")
                t0 = time.monotonic()
                try:
                    section.rows.extend(section.run(ctx))
                except Skip as skip:
                    section.rows.append([f"{n:,}: skipped: {skip}"])
                except Exception as error:  # noqa: BLE001 - one broken section must not lose the others
                    section.rows.append([f"{n:,}: error: {type(error).__name__}: {error}"])
                    log(f"N={n:,}: {section.key} failed: {error!r}")
                log(f"N={n:,}: {section.key} done in {time.monotonic() - t0:.0f} s")
        finally:
            if group is not None:
                group.close()
    after = idle_procs.count_processes()
    load_end = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    header = (f"## procwatch benchmarks\n\n{limits['cpus']} CPUs, Python {sys.version.split()[0]}, "
              f"load average {load_start} at start, {load_end} at end (other work on the machine inflates wall "
              f"times: compare CPU columns), "
              f"{time.strftime('%Y-%m-%d %H:%M')}, `{' '.join(['benchmarks/run.py', *argv])}`. "
              f"Cells: median (min–max) over {3 if args.quick else 11} runs unless stated.")
    text = render(sections, header)
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    log(f"processes running: {before} before, {after} after")
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--rss-worker":
        print(json.dumps(rss_worker(int(sys.argv[2]))))
    elif len(sys.argv) >= 3 and sys.argv[1] == "--ui-worker":
        print(json.dumps(ui_worker(float(sys.argv[2]))))
    else:
        sys.exit(main(sys.argv[1:]))
