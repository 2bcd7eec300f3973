"""A scripted process source for deterministic snapshot tests and screenshots only (never for engine tests)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from procwatch.engine.model import ProcInfo, Snapshot

FAKE_NOW = 1_780_000_000.0  # a fixed clock: snapshots and screenshots must not change from run to run


def fake_proc(pid: int, ppid: int, name: str, argv: Sequence[str] = (), *, user: str = "root", uid: int = 0,
              state: str = "S", nice: int = 0, threads: int = 1, session: int | None = None,
              pgrp: int | None = None, tpgid: int = -1, locked_kb: int = 0, exit_code: int = 0,
              rss: int = 4 << 20, cpu: float = 0.0, kernel_thread: bool = False, age: float = 3600.0,
              start_ticks: int | None = None) -> ProcInfo:
    return ProcInfo(
        pid=pid, ppid=ppid, start_ticks=pid * 100 if start_ticks is None else start_ticks, uid=uid, user=user,
        state=state, nice=nice, threads=threads, session=pid if session is None else session,
        pgrp=pid if pgrp is None else pgrp, tpgid=tpgid, tty_nr=0, locked_kb=locked_kb, exit_code=exit_code,
        rss=rss, cpu_ticks=0, cpu_percent=cpu, name=name, argv=tuple(argv), kernel_thread=kernel_thread,
        started=FAKE_NOW - age,
    )


def snapshot_of(procs: Iterable[ProcInfo], taken_at: float = FAKE_NOW, sweep_seconds: float = 0.004) -> Snapshot:
    return Snapshot(procs={p.pid: p for p in procs}, taken_at=taken_at, sweep_seconds=sweep_seconds)


def demo_processes() -> list[ProcInfo]:
    """A small machine with one of everything worth seeing: a zombie-leaking parent, an orphan, D, T, t."""
    p = fake_proc
    return [
        p(1, 0, "systemd", ["/sbin/init"], threads=1, rss=12 << 20, age=86400),
        p(2, 0, "kthreadd", kernel_thread=True, session=0, pgrp=0, rss=0, age=86400),
        p(14, 2, "kworker/0:1-events", state="I", kernel_thread=True, session=0, pgrp=0, rss=0, age=86400),
        p(15, 2, "kworker/R-rcu_gp", state="I", nice=-20, kernel_thread=True, session=0, pgrp=0, rss=0),
        p(310, 1, "systemd-journal", ["/lib/systemd/systemd-journald"], rss=30 << 20, age=86000),
        p(402, 1, "cron", ["/usr/sbin/cron", "-f"], age=86000),
        p(415, 1, "sshd", ["sshd: /usr/sbin/sshd -D [listener]"], age=86000),
        p(420, 1, "nginx", ["nginx: master process /usr/sbin/nginx"], age=80000),
        p(421, 420, "nginx", ["nginx: worker process"], user="www-data", uid=33, session=420, pgrp=420, cpu=3.2),
        p(422, 420, "nginx", ["nginx: worker process"], user="www-data", uid=33, session=420, pgrp=420),
        p(1200, 415, "sshd", ["sshd: alice [priv]"], age=5000),
        p(1210, 1200, "sshd", ["sshd: alice@pts/0"], user="alice", uid=1000, session=1200, pgrp=1200),
        p(1211, 1210, "bash", ["-bash"], user="alice", uid=1000, tpgid=1400, age=5000),
        p(1400, 1211, "python3", ["python3", "leaky_server.py", "--workers", "3"], user="alice", uid=1000,
          session=1211, pgrp=1400, tpgid=1400, threads=4, cpu=12.5, rss=85 << 20, age=1800),
        p(1401, 1400, "python3", user="alice", uid=1000, state="Z", session=1211, pgrp=1400, tpgid=1400,
          exit_code=3 << 8, rss=0, age=620),
        p(1402, 1400, "python3", user="alice", uid=1000, state="Z", session=1211, pgrp=1400, tpgid=1400,
          exit_code=9, rss=0, age=300),
        p(1403, 1400, "python3", ["python3", "worker.py"], user="alice", uid=1000, state="D", session=1211,
          pgrp=1400, tpgid=1400, age=200),
        p(1500, 1, "sleep", ["sleep", "999"], user="alice", uid=1000, session=1211, pgrp=1500, age=900),
        p(1600, 1211, "vim", ["vim", "notes.txt"], user="alice", uid=1000, state="T", session=1211, pgrp=1600,
          tpgid=1400, age=700),
        p(1700, 1211, "strace", ["strace", "-p", "1701"], user="alice", uid=1000, session=1211, pgrp=1700,
          tpgid=1400, age=100),
        p(1701, 1211, "make", ["make", "-j4"], user="alice", uid=1000, state="t", session=1211, pgrp=1701,
          tpgid=1400, nice=5, age=100),
        p(2001, 1, "postgres", ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main"],
          user="postgres", uid=105, locked_kb=4, rss=40 << 20, cpu=5.0, age=86000),
    ]


def demo_snapshot() -> Snapshot:
    return snapshot_of(demo_processes())


class FakeCollector:
    """Returns the scripted snapshots in turn, then repeats the last one."""

    def __init__(self, snapshots: Sequence[Snapshot] | None = None) -> None:
        self.snapshots = list(snapshots or [demo_snapshot()])
        self.sweeps = 0

    def sweep(self) -> Snapshot:
        snapshot = self.snapshots[min(self.sweeps, len(self.snapshots) - 1)]
        self.sweeps += 1
        return snapshot
