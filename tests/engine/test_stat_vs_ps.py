"""STAT exactly as `ps -o stat` prints it: for children the test puts in each state, and for every process whose
STAT is stable around a sweep."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time

import pytest
from support.polling import DEADLINE, wait_until
from support.procs import LIFETIME, PY_THREADS, PYTHON, wait_state
from support.ps import ps_all_stats, ps_stat

from procwatch.engine.collector import ProcfsCollector
from procwatch.engine.model import ProcInfo
from procwatch.engine.stat import format_stat
from procwatch.engine.words import describe_stat, stat_summary, state_model

pytestmark = pytest.mark.usefixtures("no_leftover_children")

# mlock one page: VmLck becomes non-zero, ps shows L.
MLOCK = f"""
import ctypes, mmap, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
page = mmap.mmap(-1, mmap.PAGESIZE)
address = ctypes.addressof(ctypes.c_char.from_buffer(page))
if libc.mlock(ctypes.c_void_p(address), ctypes.c_size_t(mmap.PAGESIZE)) != 0:
    sys.exit("mlock: " + os.strerror(ctypes.get_errno()))
print("ready", flush=True)
time.sleep({LIFETIME})
"""

# Every flag at once, to check their order: N (nice 5), L, s (session leader), l (threads).
ALL_FLAGS = MLOCK.replace('print("ready"', f'import threading\nthreading.Thread(target=time.sleep, args=({LIFETIME},), '
                          'daemon=True).start()\nprint("ready"')


def sweep_one(pid: int) -> ProcInfo:
    p = ProcfsCollector().sweep().get(pid)
    assert p is not None, f"pid {pid} missing from the sweep"
    return p


def foreground() -> str:
    """'+' when this test run sits in its terminal's foreground process group (children inherit the group)."""
    try:
        return "+" if os.tcgetpgrp(0) == os.getpgrp() else ""
    except OSError:
        return ""


def check(pid: int, expected: str) -> ProcInfo:
    p = sweep_one(pid)
    ours, theirs = format_stat(p), ps_stat(pid)
    assert ours == theirs, f"pid {pid}: procwatch says {ours!r}, ps says {theirs!r}"
    assert ours == expected, f"pid {pid}: expected {expected!r}, got {ours!r}"
    return p


def test_sleeping(children):
    proc = children.sleeper()
    p = check(proc.pid, "S" + foreground())
    assert stat_summary(p).startswith("sleeping (interruptible wait)")
    assert state_model(p.state).three_state == "waiting"


def test_stopped(children):
    proc = children.sleeper()
    os.kill(proc.pid, signal.SIGSTOP)
    wait_state(proc.pid, "T")
    p = check(proc.pid, "T" + foreground())
    assert describe_stat(p)[0] == "T: stopped by a signal"
    assert state_model("T").five_state == "waiting (strictly: suspended)"


def test_zombie(children):
    proc = children.zombie(3)
    p = check(proc.pid, "Z" + foreground())
    assert state_model(p.state).five_state == "terminated"


def test_nice(children):
    proc = children.sleeper(preexec_fn=lambda: os.nice(5))
    p = check(proc.pid, "SN" + foreground())
    assert p.nice == 5
    assert stat_summary(p) == "sleeping (interruptible wait) · low priority (nice 5)" + (
        " · in the foreground process group of its terminal" if foreground() else "")


def test_high_priority(children):
    def raise_priority():
        os.nice(-5)

    try:
        proc = children.sleeper(preexec_fn=raise_priority)
    except subprocess.SubprocessError:  # the preexec_fn failed: EPERM
        pytest.skip("raising priority needs CAP_SYS_NICE or RLIMIT_NICE")
    p = check(proc.pid, "S<" + foreground())
    assert p.nice == -5


def test_session_leader(children):
    proc = children.sleeper(start_new_session=True)
    p = check(proc.pid, "Ss")  # a new session has no controlling terminal: never '+'
    assert p.session == p.pid == p.pgrp and p.tpgid == -1 and p.tty_nr == 0


def test_multithreaded(children):
    proc = children.python(PY_THREADS)
    p = check(proc.pid, "Sl" + foreground())
    assert p.threads == 3
    assert "l: multithreaded (3 threads)" in describe_stat(p)


def test_locked_memory(children):
    proc = children.python(MLOCK)
    p = check(proc.pid, "SL" + foreground())
    assert p.locked_kb >= os.sysconf("SC_PAGE_SIZE") // 1024


def test_flag_order(children):
    proc = children.python(ALL_FLAGS, preexec_fn=lambda: os.nice(5), start_new_session=True)
    p = check(proc.pid, "SNLsl")
    assert [phrase[0] for phrase in describe_stat(p)] == list("SNLsl")


# A session on a pseudo-terminal: the leader owns it (controlling terminal), one child stays in the foreground
# process group, one moves to a background group. Each sleep child dies with the leader (PDEATHSIG) as a backstop.
TERMINAL_SESSION = f"""
import ctypes, os, sys
os.login_tty(int(sys.argv[1]))  # setsid + controlling terminal + stdio
libc = ctypes.CDLL(None)

def spawn(background):
    pid = os.fork()
    if pid == 0:
        libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
        if background:
            os.setpgid(0, 0)
        os.execvp("sleep", ["sleep", "{LIFETIME}"])
    if background:
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
    return pid

fg, bg = spawn(False), spawn(True)
print(fg, bg, flush=True)
sys.stdin.readline()
for pid in (fg, bg):
    os.kill(pid, 9)
    os.waitpid(pid, 0)
"""


def _read_pty_line(fd: int) -> str:
    data = b""
    deadline = time.monotonic() + DEADLINE
    while b"\n" not in data:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, "the terminal session printed nothing"
        data += os.read(fd, 1024)
    return data.decode().strip()


def test_terminal_foreground_group(children):
    master, slave = os.openpty()
    leader = children.start([PYTHON, "-c", TERMINAL_SESSION, str(slave)], pass_fds=(slave,))
    try:
        os.close(slave)
        slave = -1
        fg, bg = map(int, _read_pty_line(master).split())
        for pid in (leader.pid, fg, bg):
            wait_state(pid, "S")
        wait_until(lambda: os.getpgid(bg) == bg, what="the background group")
        leader_info = check(leader.pid, "Ss+")
        fg_info, bg_info = check(fg, "S+"), check(bg, "S")
        assert leader_info.tpgid == fg_info.tpgid == bg_info.tpgid == leader.pid
        assert leader_info.tty_nr == fg_info.tty_nr == bg_info.tty_nr != 0
        assert "in the foreground process group of its terminal" in stat_summary(fg_info)
    finally:
        try:
            os.write(master, b"quit\n")  # even when the test failed: the leader kills and reaps its children
            leader.wait(timeout=DEADLINE)
        except (OSError, subprocess.TimeoutExpired):
            pass  # the `children` fixture kills it
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert leader.returncode == 0


def _stable_mismatches(collector: ProcfsCollector, pids: set[int] | None) -> tuple[int, dict[int, tuple[str, str]]]:
    """Sweep, ps, sweep. Among processes (of `pids`, or all) with the same identity and STAT in both sweeps,
    return how many ps agreed with and the ones it did not."""
    me = os.getpid()  # running while it sweeps, sleeping while ps runs: never stable around ps
    before = collector.sweep()
    ps = ps_all_stats()
    after = collector.sweep()
    matched, mismatched = 0, {}
    for pid, p in before.procs.items():
        q = after.get(pid)
        if pid == me or (pids is not None and pid not in pids) or q is None or q.identity != p.identity:
            continue
        ours = format_stat(p)
        if format_stat(q) != ours or pid not in ps:
            continue
        if ps[pid] == ours:
            matched += 1
        else:
            mismatched[pid] = (ours, ps[pid])
    return matched, mismatched


def test_every_stable_process_matches_ps(record_property):
    collector = ProcfsCollector()
    matched, mismatched = _stable_mismatches(collector, None)
    # A process can change state and back between the sweeps and ps: a real disagreement repeats, a race does not
    # (each round costs two sweeps and a ps, and only when something disagreed: enough that chance cannot repeat).
    for _ in range(10):
        if not mismatched:
            break
        _, again = _stable_mismatches(collector, set(mismatched))
        mismatched = {pid: stats for pid, stats in mismatched.items() if pid in again}
    record_property("summary:STAT matched ps (stable processes, full sweep)", matched)
    print(f"STAT matched ps for {matched} stable processes")
    assert not mismatched, f"procwatch vs ps STAT (pid: (ours, ps)): {mismatched}"
    assert matched > 20, f"only {matched} processes compared: the comparison proves little"
