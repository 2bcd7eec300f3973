"""The warm collector reads only what changed: reuse of unchanged records, and the staleness bound of status values.

Deterministic parts run on a fake /proc tree (the collector takes its root as an argument) with a fake clock; one
test checks on a real process that a change made by the process itself (mlock) shows at the next sweep."""

from __future__ import annotations

import os
import subprocess

import pytest
from support.procs import LIFETIME, read_line

import procwatch.engine.procfs as collector_module
from procwatch.engine.collector import ProcfsCollector
from procwatch.engine.stat import format_stat

pytestmark = pytest.mark.usefixtures("no_leftover_children")

MAX_AGE = 10.0


def stat_line(pid: int, name: str = "idle", utime: int = 5, start: int = 1000, state: str = "S") -> bytes:
    # fields 3..52: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ... exit_code
    fields = [state, "1", str(pid), str(pid), "0", "-1", "4194304", "10", "0", "0", "0", str(utime), "2", "0", "0",
              "20", "0", "1", "0", str(start), "1000000", "50"] + ["0"] * 27 + ["0"]
    return f"{pid} ({name}) {' '.join(fields)}\n".encode()


def status_text(uid: int = 1000, locked_kb: int = 0, rss_kb: int = 400) -> bytes:
    return (f"Name:\tidle\nState:\tS (sleeping)\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t0\t0\t0\t0\n"
            f"VmLck:\t{locked_kb:8d} kB\nVmRSS:\t{rss_kb:8d} kB\nThreads:\t1\n").encode()


class FakeProc:
    def __init__(self, root) -> None:
        self.root = root
        (root / "stat").write_bytes(b"cpu 0 0 0 0\nbtime 1700000000\n")

    def put(self, pid: int, stat: bytes | None = None, status: bytes | None = None, cmdline: bytes | None = None):
        d = self.root / str(pid)
        d.mkdir(exist_ok=True)
        for name, data in (("stat", stat), ("status", status), ("cmdline", cmdline)):
            if data is not None:
                (d / name).write_bytes(data)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake(tmp_path):
    return FakeProc(tmp_path)


def count_reads(monkeypatch) -> dict[str, int]:
    counts = {"stat": 0, "status": 0, "cmdline": 0}
    real_read = collector_module.read

    def counting(path, *args):
        kind = path.rsplit("/", 1)[-1]
        if kind in counts:
            counts[kind] += 1
        return real_read(path, *args)

    monkeypatch.setattr(collector_module, "read", counting)
    return counts


def test_unchanged_stat_reuses_the_record_and_reads_nothing_else(fake, monkeypatch):
    for pid in (100, 101, 102):
        fake.put(pid, stat_line(pid), status_text(), b"idle\0--flag\0")
    clock = Clock()
    collector = ProcfsCollector(str(fake.root), status_max_age=MAX_AGE, clock=clock)
    first = collector.sweep()
    assert first.get(100).argv == ("idle", "--flag") and first.get(100).rss == 400 * 1024
    counts = count_reads(monkeypatch)
    clock.now += 0.01  # no slot comes due this soon
    second = collector.sweep()
    assert counts == {"stat": 3, "status": 0, "cmdline": 0}
    assert all(second.get(pid) is first.get(pid) for pid in (100, 101, 102))


def test_changed_stat_rereads_status_and_gives_cpu_percent(fake, monkeypatch):
    fake.put(100, stat_line(100, utime=5), status_text(), b"idle\0")
    clock = Clock()
    collector = ProcfsCollector(str(fake.root), status_max_age=MAX_AGE, clock=clock)
    collector.sweep()
    fake.put(100, stat_line(100, utime=55), status_text(uid=0, locked_kb=4, rss_kb=800))
    counts = count_reads(monkeypatch)
    clock.now += 0.01
    busy = collector.sweep().get(100)
    assert counts == {"stat": 1, "status": 1, "cmdline": 0}  # same comm: the command line is not read again
    assert (busy.uid, busy.locked_kb, busy.rss, busy.cpu_ticks) == (0, 4, 800 * 1024, 57)
    assert busy.cpu_percent > 0 and "L" in format_stat(busy)
    clock.now += 0.01
    idle = collector.sweep().get(100)  # stat unchanged again: the reused record spent no tick
    assert idle.cpu_percent == 0.0 and idle._replace(cpu_percent=busy.cpu_percent) == busy


def test_status_changes_behind_an_unchanged_stat_show_within_the_bound(fake):
    pids = list(range(300, 300 + 2 * ProcfsCollector.SLOTS))  # every slot holds two processes
    for pid in pids:
        fake.put(pid, stat_line(pid), status_text(uid=1000, locked_kb=0, rss_kb=400), b"idle\0")
    clock = Clock()
    collector = ProcfsCollector(str(fake.root), status_max_age=MAX_AGE, clock=clock)
    collector.sweep()
    for pid in pids:  # setuid + mlock + reclaim, none of which shows in stat
        fake.put(pid, status=status_text(uid=0, locked_kb=4, rss_kb=300))
    updated_at: dict[int, float] = {}
    for second in range(1, int(MAX_AGE) + 2):  # a 1 s refresh
        clock.now += 1.0
        snapshot = collector.sweep()
        fresh = {pid for pid in pids if (snapshot.get(pid).uid, snapshot.get(pid).locked_kb) == (0, 4)}
        assert set(updated_at) <= fresh  # once seen, never lost
        for pid in fresh - set(updated_at):
            updated_at[pid] = second
            assert snapshot.get(pid).rss == 300 * 1024
        if second == 1:  # a rotating slice, not everything at once
            assert 0 < len(fresh) <= len(pids) * 2 / MAX_AGE
    assert set(updated_at) == set(pids), "some status was never re-read"
    assert max(updated_at.values()) <= MAX_AGE + 1


def test_a_long_pause_makes_every_status_due(fake, monkeypatch):
    for pid in range(500, 520):
        fake.put(pid, stat_line(pid), status_text(), b"idle\0")
    clock = Clock()
    collector = ProcfsCollector(str(fake.root), status_max_age=MAX_AGE, clock=clock)
    collector.sweep()
    counts = count_reads(monkeypatch)
    clock.now += MAX_AGE + 0.5
    collector.sweep()
    # cmdline rides with status (a process may rewrite its argv in place: it shows within the same bound)
    assert counts["status"] == 20 and counts["cmdline"] == 20


def test_reused_pid_is_a_new_identity(fake, monkeypatch):
    fake.put(100, stat_line(100, start=1000), status_text(), b"idle\0")
    clock = Clock()
    collector = ProcfsCollector(str(fake.root), status_max_age=MAX_AGE, clock=clock)
    before = collector.sweep().get(100)
    fake.put(100, stat_line(100, start=2000), status_text(uid=0), b"idle\0--other\0")  # same comm, new process
    counts = count_reads(monkeypatch)
    clock.now += 0.01
    after = collector.sweep().get(100)
    assert counts == {"stat": 1, "status": 1, "cmdline": 1}
    assert after.identity == (100, 2000) != before.identity
    assert (after.argv, after.uid, after.cpu_percent) == (("idle", "--other"), 0, 0.0)


def test_mlock_by_a_watched_process_shows_at_the_next_sweep(children):
    code = ("import ctypes, mmap, sys, time\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "page = mmap.mmap(-1, mmap.PAGESIZE)\naddress = ctypes.addressof(ctypes.c_char.from_buffer(page))\n"
            "print('ready', flush=True)\nsys.stdin.readline()\n"
            "assert libc.mlock(ctypes.c_void_p(address), ctypes.c_size_t(mmap.PAGESIZE)) == 0\n"
            f"print('locked', flush=True)\ntime.sleep({LIFETIME})")
    proc = children.python(code, stdin=subprocess.PIPE)  # returns once the child waits for input (S)
    collector = ProcfsCollector()  # a long-lived collector, as in the TUI
    collector.sweep()
    assert collector.sweep().get(proc.pid).locked_kb == 0
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    assert read_line(proc) == "locked"
    p = collector.sweep().get(proc.pid)  # the process ran: its stat changed, so status was read again
    assert p.locked_kb >= os.sysconf("SC_PAGE_SIZE") // 1024 and "L" in format_stat(p)
