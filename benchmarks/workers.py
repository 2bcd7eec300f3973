"""Measurements that run in a fresh interpreter: a crash or a hang of the code under test cannot take the benchmark
down, and the RSS of the engine is not mixed with this script's.

    python benchmarks/workers.py rss 5      # 5 x (sweep + observe + build_rows), VmHWM before and after
    python benchmarks/workers.py ui 10      # the app headless for 10 s: UI-thread blocking, key latency

Each prints one JSON object on its last stdout line (`{"skip": reason}` when it cannot run).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import Skip, status_kib


def run_json_worker(kind: str, argument: float, timeout: float) -> dict:
    """Run one worker in a subprocess of its own session; its JSON result, or Skip."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), kind, str(argument)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException as error:
        os.killpg(proc.pid, signal.SIGKILL)  # our unreaped child leads this group
        proc.communicate()
        if isinstance(error, subprocess.TimeoutExpired):
            raise Skip(f"worker {kind} took more than {timeout:.0f} s") from error
        raise
    lines = [line for line in out.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        tail = (err.strip().splitlines() or ["no output"])[-1]
        raise Skip(f"worker {kind} failed: {tail[:200]}")
    result = json.loads(lines[-1])
    if "skip" in result:
        raise Skip(result["skip"])
    return result


def rss_worker(sweeps: int) -> dict:
    """Import the engine, then sweep + observe + build_rows `sweeps` times."""
    from procwatch.engine.collector import ProcfsCollector
    from procwatch.engine.lineage import Lineage
    from procwatch.engine.tree import build_rows

    baseline = status_kib(os.getpid(), "VmHWM")  # this mm's own high-water mark (fresh since exec)
    collector, lineage = ProcfsCollector(), Lineage()
    keep = None
    for _ in range(sweeps):
        snapshot = collector.sweep()
        observations = lineage.observe(snapshot)
        rows = build_rows(snapshot.procs)
        keep = (observations, rows)  # what a UI holds between ticks
    return {"procs": len(keep[0].snapshot), "baseline_kib": baseline, "peak_kib": status_kib(os.getpid(), "VmHWM"),
            "current_kib": status_kib(os.getpid(), "VmRSS")}


def make_headless_app(interval: float = 1.0):
    """The one place that knows how to build the app for a headless run. Adapt here when the app's API changes.
    Returns an App that refreshes from the real /proc collector; raises Skip when the app is not there yet."""
    try:
        from procwatch.ui.app import make_app
        from procwatch.view.collectors import make_collector
    except Exception as error:  # the TUI may be half-written: any import error means "not yet"
        raise Skip(f"procwatch.ui.app is not importable ({type(error).__name__}: {error})") from error
    return make_app(collector=make_collector(), interval=interval, sandbox=False)


def ui_worker(seconds: float) -> dict:
    """Headless run_test at 200x50 with the real collector. Measures, on the UI thread (the asyncio loop):
    - loop blocking: a 2 ms ticker; every gap beyond its sleep is time the loop could not run (work on the UI
      thread, or the GIL held by the poller thread: both are what a user feels);
    - the snapshot handler itself (`on_snapshot_ready`, timed by wrapping the class method);
    - key latency: a key handed to the app as the terminal driver does, to the screen painted with the cursor
      moved, while refreshes run."""
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
        cls.on_snapshot_ready = timed

    def updates() -> int:
        return app.last.number if app.last is not None else 0

    async def main() -> dict:
        gaps: list[float] = []
        keys: list[float] = []
        running = True

        async def ticker() -> None:
            while running:
                t0 = time.perf_counter()
                await asyncio.sleep(0.002)
                gaps.append(time.perf_counter() - t0 - 0.002)

        paints: list[float] = []

        async def key_to_paint() -> float:
            """Seconds from a key reaching the app (as the terminal driver hands it over) to the screen painted
            with the cursor moved: what the user waits for, behind any refresh or sweep under way."""
            from textual import events

            table = app.query_one("#table")
            before = table.cursor_index
            event = events.Key("down", None)
            event.set_sender(app)
            t0 = time.perf_counter()
            app._driver.send_message(event)
            while table.cursor_index == before and time.perf_counter() - t0 < 5:
                await asyncio.sleep(0.0005)
            moved = time.perf_counter()
            while not (paints and paints[-1] >= moved) and time.perf_counter() - t0 < 5:
                await asyncio.sleep(0.0005)
            return (paints[-1] if paints else time.perf_counter()) - t0

        async with app.run_test(size=(200, 50)):
            screen = app.screen
            compositor_refresh = screen._compositor_refresh

            def counted_refresh() -> None:
                compositor_refresh()
                paints.append(time.perf_counter())

            screen._compositor_refresh = counted_refresh
            deadline = time.monotonic() + 30
            while updates() < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if updates() < 1:
                return {"skip": "no refresh reached the UI within 30 s"}
            handler_times.clear()
            first = updates()
            task = asyncio.create_task(ticker())
            await asyncio.sleep(seconds / 2)  # phase 1: refreshes only
            idle_gaps, gaps[:] = list(gaps), []
            done = updates() - first
            t_start = time.monotonic()
            while time.monotonic() - t_start < seconds / 2:  # phase 2: a key press every 200 ms
                keys.append(await key_to_paint())
                await asyncio.sleep(0.2)
            running = False
            await task
        blocked = [g for g in idle_gaps if g > 0.001]
        return {"elapsed": seconds / 2, "updates": done, "gaps": idle_gaps, "blocked_total": sum(blocked),
                "key_gaps_max": max(gaps, default=0.0), "keys": keys, "handler": handler_times}

    return asyncio.run(main())


WORKERS = {"rss": lambda value: rss_worker(int(value)), "ui": ui_worker}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in WORKERS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(WORKERS)}}} NUMBER")
    print(json.dumps(WORKERS[sys.argv[1]](float(sys.argv[2]))))
