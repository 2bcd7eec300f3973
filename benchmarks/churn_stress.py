"""Churn stress: the real app, headless, while a fork storm runs (issue 6).

    .venv/bin/python benchmarks/churn_stress.py                 # 60 s, ~300 processes/s, refresh every 0.5 s
    .venv/bin/python benchmarks/churn_stress.py --seconds 10 --rate 500

The storm is one helper process (its own process group, a child subreaper, PR_SET_PDEATHSIG) that forks short-lived
children: most exec `sleep` for 20-500 ms, 10% exit at once (zombies until the next reap), 10% leave an orphan
grandchild that the helper adopts. It stops on EOF of its stdin or after its own deadline; then it kills its group
and reaps everything, and this script kills the group again before reaping the helper. Nothing outlives the run,
also on Ctrl-C or an exception.

Measured: the RSS of this process (the app, its poller thread and the engine), sampled every 0.25 s; the UI stall,
i.e. the largest lateness of a 10 ms asyncio ticker in the app's event loop; sweeps done and the largest snapshot.
The ForkStorm class is also used by tests/test_hardening_system.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from procwatch.engine import procfs

MARKER = "pw-churn-child"

FORK_STORM = r"""
import ctypes, os, random, select, signal, sys, time
rate, max_seconds, marker = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG: the storm dies with whoever started it
libc.prctl(36, 1)               # PR_SET_CHILD_SUBREAPER: orphaned grandchildren are adopted (and reaped) here
rnd = random.Random(1)
spawned = 0
end = time.monotonic() + max_seconds
period = 1.0 / rate
next_at = time.monotonic()

def reap(block=False):
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return

print("ready", flush=True)
while time.monotonic() < end:
    now = time.monotonic()
    burst = 0
    while next_at <= now and burst < 50:
        next_at += period
        burst += 1
        kind = rnd.random()
        life = "%.3f" % rnd.uniform(0.02, 0.5)
        pid = os.fork()
        if pid == 0:
            try:
                if kind < 0.1:  # the middle process exits at once: its child is an orphan, adopted by the helper
                    if os.fork() == 0:
                        os.execv("/bin/sleep", [marker + "-orphan", life])
                    os._exit(0)
                libc.prctl(1, signal.SIGKILL)
                if kind < 0.2:
                    os._exit(3)  # a zombie until the next reap
                os.execv("/bin/sleep", [marker, life])
            finally:
                os._exit(127)
        spawned += 1
    if next_at < now - 1:
        next_at = now  # fell behind (a loaded machine): do not try to catch up in one burst
    reap()
    ready, _, _ = select.select([sys.stdin], [], [], max(0.0, min(0.05, next_at - time.monotonic())))
    if ready and not os.read(0, 1024):
        break
signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.killpg(0, signal.SIGTERM)  # every child and orphan left (the helper itself ignores it)
reap(block=True)
print("spawned", spawned, flush=True)
"""


class ForkStorm:
    """Context manager: a fork storm of about `rate` processes per second for at most `max_seconds`.
    `stop()` (also on exit) ends it and returns the number of processes spawned; nothing is left behind."""

    def __init__(self, rate: float = 300, max_seconds: float = 120, marker: str = MARKER) -> None:
        self.rate, self.max_seconds, self.marker = rate, max_seconds, marker
        self.proc: subprocess.Popen | None = None
        self.spawned: int | None = None

    def __enter__(self) -> ForkStorm:
        self.proc = subprocess.Popen([sys.executable, "-c", FORK_STORM, str(self.rate), str(self.max_seconds),
                                      self.marker], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     start_new_session=True)
        try:
            line = self.proc.stdout.readline()
            if line.strip() != b"ready":
                raise RuntimeError(f"the fork storm did not start: {line!r}")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, timeout: float = 10) -> int | None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return self.spawned
        try:
            proc.stdin.close()  # EOF: the helper kills its group and reaps everything
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        exited = False
        while time.monotonic() < deadline:  # wait for the exit without reaping: the group id stays ours meanwhile
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None:
                exited = True
                break
            time.sleep(0.02)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # our own group (the helper is unreaped): anything left in it
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        out = proc.stdout.read().decode(errors="replace")
        proc.stdout.close()
        if exited and out.startswith("spawned "):
            self.spawned = int(out.split()[1])
        return self.spawned

    def pids(self) -> list[int]:
        """Live processes of the storm (its process group), read from /proc."""
        if self.proc is None:
            return []
        found = []
        for pid in procfs.pids():
            fields = procfs.stat_fields(pid)
            if fields and int(fields[2]) == self.proc.pid and pid != self.proc.pid:
                found.append(pid)
        return found


def rss_bytes() -> int:
    try:
        return (procfs.parse_status(procfs.read("/proc/self/status"))[2] or 0) * 1024
    except OSError:
        return 0


async def measure(seconds: float, rate: float, interval: float) -> dict:
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    from procwatch.ui.app import make_app
    from procwatch.view.collectors import make_collector

    collector = make_collector()
    sweeps: list[tuple[float, int]] = []  # (sweep seconds, processes)
    real_sweep = collector.sweep

    def counted_sweep():
        snapshot = real_sweep()
        sweeps.append((snapshot.sweep_seconds, len(snapshot)))
        return snapshot

    collector.sweep = counted_sweep
    app = make_app(collector=collector, interval=interval, sandbox=False)
    result: dict = {}
    async with app.run_test(size=(160, 50)) as pilot:
        while (app.last.number if app.last else 0) < 1:
            await pilot.pause(0.05)
        stall = {"max": 0.0}
        ticking = True

        async def ticker() -> None:
            loop = asyncio.get_running_loop()
            expected = loop.time() + 0.01
            while ticking:
                await asyncio.sleep(0.01)
                now = loop.time()
                stall["max"] = max(stall["max"], now - expected)
                expected = now + 0.01

        rss = [rss_bytes()]
        result["rss_start"] = rss[0]
        task = asyncio.create_task(ticker())
        with ForkStorm(rate=rate, max_seconds=seconds + 30) as storm:
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                await asyncio.sleep(0.25)
                rss.append(rss_bytes())
            spawned = storm.stop()
        storm_done = time.monotonic()
        # one more refresh after the storm: the stale rows must be gone
        seen = (app.last.number if app.last else 0)
        while not ((app.last.number if app.last else 0) > seen and app.last.observations.snapshot.taken_at > time.time() - 0.2):
            await pilot.pause(0.05)
        ticking = False
        await task
        rss.append(rss_bytes())
        rows = app.query_one("ProcessTable").rows
        result.update(
            seconds=storm_done - started, spawned=spawned, rss=rss, rss_end=rss[-1], stall=stall["max"],
            sweeps=len(sweeps), max_procs=max(n for _, n in sweeps), max_sweep=max(s for s, _ in sweeps),
            updates=(app.last.number if app.last else 0), lineage=len(app.poller.lineage), exception=app._exception,
            stale=sum(1 for r in rows if MARKER in r.proc.cmdline),
            errors=[n.message for n in app._notifications if "sweep failed" in n.message],
        )
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of the storm (default 60)")
    parser.add_argument("--rate", type=float, default=300, help="processes forked per second (default 300)")
    parser.add_argument("--interval", type=float, default=0.5, help="the app's refresh interval (default 0.5)")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 3600 or not 0 < args.rate <= 5000:
        parser.error("--seconds must be in (0, 3600] and --rate in (0, 5000]")
    r = asyncio.run(measure(args.seconds, args.rate, args.interval))
    mb = 1 << 20
    print(f"churn_stress: {r['seconds']:.1f} s fork storm at ~{args.rate:g}/s, refresh every {args.interval:g} s")
    print(f"  processes spawned by the storm: {r['spawned']}")
    print(f"  sweeps done: {r['sweeps']} (updates applied: {r['updates']}), largest snapshot {r['max_procs']} "
          f"processes, slowest sweep {r['max_sweep'] * 1000:.1f} ms")
    print(f"  RSS: start {r['rss_start'] / mb:.1f} MiB, max {max(r['rss']) / mb:.1f} MiB, end {r['rss_end'] / mb:.1f} "
          f"MiB ({len(r['rss'])} samples)")
    print(f"  max UI stall (10 ms ticker lateness): {r['stall'] * 1000:.1f} ms")
    print(f"  after the storm: {r['stale']} stale storm rows, lineage holds {r['lineage']} identities, "
          f"sweep errors {len(r['errors'])}, app exception {r['exception']!r}")
    return 0 if r["exception"] is None and not r["errors"] and r["stale"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
