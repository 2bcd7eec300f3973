"""What watching a host over ssh costs: bytes per second on the wire and CPU on the remote, at about N processes.

    .venv/bin/python benchmarks/fleet_wire.py 1000 5000 [--seconds 20] [--interval 1]

For each N it starts idle processes until about N run (benchmarks/population.py: their own process group, always
killed and reaped), starts a real sshd on loopback (tests/support/sshd.py: throwaway keys, stopped at the end),
connects a RemoteCollector at a 1 s interval and, over a window at steady state, reads:
- stream: the JSON Lines the agent sends (what procwatch reads from ssh's stdout), per second; the first, whole,
  snapshot is given apart;
- wire: what the ssh client read from its socket (rchar of /proc/PID/io minus the stream it wrote: encrypted,
  with SSH framing), per second;
- remote CPU: user + system time of the agent (the remote python) and of the sshd session process, in ms per s
  (10 ms/s = 1 % of a core);
- local CPU: this process (the collector thread decoding), ms per s.
The "remote" is this machine, so the agent sees the same processes as the population.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]

import population  # noqa: E402  benchmarks/population.py
from support.sshd import SshHosts, _cannot_run  # noqa: E402  tests/support/sshd.py

from procwatch.engine import procfs  # noqa: E402
from procwatch.engine.remote import HostSpec, RemoteCollector, SshOptions  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = procfs.stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS if fields else 0.0


def io_rchar(pid: int) -> int:
    for line in procfs.read(f"/proc/{pid}/io").splitlines():
        if line.startswith(b"rchar:"):
            return int(line.split()[1])
    return 0


def agent_and_session(server_pid: int) -> tuple[int, int]:
    """(the agent's pid, its sshd session process's pid) among the server's descendants."""
    agent = session = 0
    for pid in procfs.descendants(server_pid):
        try:
            cmdline = procfs.read(f"/proc/{pid}/cmdline")
        except OSError:
            continue
        if b"zlib.decompress" in cmdline and not cmdline.startswith(b"sh\0"):  # python3 -c LOADER, not sh -c
            agent = pid
        elif cmdline.startswith(b"sshd:") and b"@notty" in cmdline:
            session = pid
    return agent, session


def measure(n: int, seconds: float, interval: float, log) -> dict[str, float]:
    with population.Population(n, log) as people, tempfile.TemporaryDirectory() as tmp:
        hosts = SshHosts(Path(tmp))
        try:
            server = hosts.start("bench")
            options = SshOptions(config=str(hosts.config))
            with RemoteCollector(HostSpec.parse("bench"), interval=interval, options=options) as collector:
                collector.sweep()
                first = collector.bytes_received
                time.sleep(3 * interval)  # a few deltas: the agent's caches are warm
                agent, session = agent_and_session(server.proc.pid)
                ssh = collector._proc.pid if collector._proc else 0
                before = (time.monotonic(), collector.bytes_received, io_rchar(ssh), cpu_seconds(agent),
                          cpu_seconds(session), time.process_time())
                time.sleep(seconds)
                after = (time.monotonic(), collector.bytes_received, io_rchar(ssh), cpu_seconds(agent),
                         cpu_seconds(session), time.process_time())
            elapsed = after[0] - before[0]
            stream = (after[1] - before[1]) / elapsed
            return {
                "processes": people.procs, "first snapshot bytes": first, "stream B/s": stream,
                "wire B/s": (after[2] - before[2]) / elapsed,
                "agent ms/s": (after[3] - before[3]) / elapsed * 1e3,
                "sshd session ms/s": (after[4] - before[4]) / elapsed * 1e3,
                "local ms/s": (after[5] - before[5]) / elapsed * 1e3,
            }
        finally:
            hosts.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    reason = _cannot_run()
    if reason:
        print(f"skipped: {reason}")
        return 1
    population.prepare()
    rows = []
    for n in args.sizes:
        problem = population.size_problem(n, population.machine_limits())
        if problem:
            print(f"N={n:,}: skipped: {problem}")
            continue
        rows.append(measure(n, args.seconds, args.interval, lambda line: print(line, flush=True)))
    print(f"\ninterval {args.interval:g} s, window {args.seconds:g} s, load {population.loadavg()}\n")
    keys = list(rows[0]) if rows else []
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{row[k]:,.0f}" if k != "agent ms/s" and "ms/s" not in k else f"{row[k]:.1f}"
                                for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
