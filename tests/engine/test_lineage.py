"""Lineage across sweeps: a real orphan adopted by a subreaper, real zombies (exit 3, SIGKILL, Zl), static orphan
evidence on hand-made snapshots, and no memory growth under churn."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from support.polling import wait_until
from support.procs import LIFETIME, PYTHON, read_line, read_stat, wait_state
from support.ps import ps_stat

from procwatch.engine.collector import ProcfsCollector
from procwatch.engine.fake import FAKE_NOW, fake_proc, snapshot_of
from procwatch.engine.lineage import BecameZombie, Lineage, Reparented, StateChanged, static_orphan
from procwatch.engine.stat import format_stat
from procwatch.engine.words import explain_orphan, explain_zombie, format_duration
from procwatch.engine.words import wait_status as decode_wait_status

pytestmark = pytest.mark.usefixtures("no_leftover_children")

# A child subreaper (so the test process itself never becomes one) with a middle child and a grandchild.
# Prints "helper middle grandchild"; on "orphan" the middle exits and is reaped here, so the grandchild is
# re-parented to this helper; on stdin EOF it kills and reaps everything.
SUBREAPER = f"""
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit("prctl: " + os.strerror(ctypes.get_errno()))
report_r, report_w = os.pipe()
go_r, go_w = os.pipe()
middle = os.fork()
if middle == 0:
    os.close(report_r)
    os.close(go_w)
    grandchild = os.fork()
    if grandchild == 0:
        os.execvp("sleep", ["sleep", "{LIFETIME}"])
    os.write(report_w, b"%d\\n" % grandchild)
    os.read(go_r, 1)  # until told to exit (or the helper died)
    os._exit(0)
os.close(report_w)
os.close(go_r)
grandchild = int(os.fdopen(report_r).readline())
print(os.getpid(), middle, grandchild, flush=True)
for line in sys.stdin:
    if line.strip() == "orphan":
        os.write(go_w, b"x")
        os.waitpid(middle, 0)
        print("orphaned", flush=True)
for pid in (grandchild, middle):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
"""


def observe(lineage: Lineage, collector: ProcfsCollector):
    return lineage.observe(collector.sweep())


def ppid_of(pid: int) -> int | None:
    stat = read_stat(pid)
    return int(stat[1][1]) if stat else None


def test_observed_reparenting_to_a_subreaper(children):
    helper = children.start([PYTHON, "-c", SUBREAPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            exits_on_eof=True)
    helper_pid, middle, grandchild = map(int, read_line(helper).split())
    assert helper_pid == helper.pid
    wait_until(lambda: (read_stat(grandchild) or ("",))[0] == "sleep", what="the grandchild to exec sleep")
    lineage, collector = Lineage(), ProcfsCollector()
    before = observe(lineage, collector)
    assert before.snapshot.get(grandchild).ppid == middle
    assert grandchild not in before.orphans and middle not in before.orphans

    helper.stdin.write(b"orphan\n")
    helper.stdin.flush()
    assert read_line(helper) == "orphaned"
    assert ppid_of(grandchild) == helper.pid  # the kernel re-parents before the middle can be reaped

    after = observe(lineage, collector)
    assert middle not in after.snapshot.procs
    orphan = after.orphans[grandchild]
    assert orphan.evidence == "reparented"
    assert (orphan.old_parent, orphan.adopter, orphan.adopter_is_init) == (middle, helper.pid, False)
    helper_name = read_stat(helper.pid)[0]
    assert orphan.old_parent_name == orphan.adopter_name == helper_name  # the middle is a fork of the helper
    assert "a child subreaper" in explain_orphan(orphan) and f"parent {middle}" in explain_orphan(orphan)
    ours = {helper.pid, middle, grandchild}  # whatever else on this machine was re-parented meanwhile is not judged
    events = [e for e in after.events if isinstance(e, Reparented) and e.identity[0] in ours]
    assert [e.identity[0] for e in events] == [grandchild]
    assert (events[0].old_parent, events[0].new_parent, events[0].adopter_is_init) == (middle, helper.pid, False)
    # the evidence is remembered, not re-detected: it stays on later sweeps
    assert observe(lineage, collector).orphans[grandchild] == orphan
    assert helper.pid not in after.orphans

    helper.stdin.close()  # the helper kills and reaps the grandchild
    assert helper.wait(timeout=10) == 0
    assert read_stat(grandchild) is None


def test_static_orphan_rules_on_handmade_snapshots():
    p = fake_proc
    procs = [
        p(1, 0, "init", ["/sbin/init"]),
        p(2, 0, "kthreadd", kernel_thread=True, session=0, pgrp=0),
        p(3, 1, "kworker", kernel_thread=True, session=100, pgrp=0),  # odd, but a kernel thread: never flagged
        p(100, 1, "sshd", ["sshd"]),  # session leader under init: daemon-like
        p(200, 100, "bash", ["-bash"], session=200),
        p(300, 1, "sleep", ["sleep", "99"], session=200, pgrp=300),  # `(sleep 99 &)` from that shell
        p(400, 1, "sleep", ["sleep", "99"], session=450, pgrp=400),  # its session leader is gone
        p(500, 1, "sleep", ["sleep", "99"], session=600, pgrp=500),  # its session leader is a zombie
        p(600, 200, "sh", state="Z"),
        p(700, 200, "cat", ["cat"], session=200, pgrp=700),  # not under init at all
    ]
    snapshot = snapshot_of(procs)
    observations = Lineage().observe(snapshot)
    assert set(observations.orphans) == {300}
    orphan = observations.orphans[300]
    assert (orphan.evidence, orphan.adopter, orphan.adopter_is_init, orphan.session_leader) == (
        "session", 1, True, 200)
    assert (orphan.old_parent, orphan.old_parent_name, orphan.adopter_name) == (None, None, "init")
    assert "static evidence" in explain_orphan(orphan) and "200" in explain_orphan(orphan)
    assert static_orphan(snapshot.get(100), snapshot.procs) is None
    assert static_orphan(snapshot.get(3), snapshot.procs) is None


def test_real_zombie_exit_3(children):
    lineage, collector = Lineage(), ProcfsCollector()
    proc = children.python("import sys\nprint('ready', flush=True)\nsys.stdin.read()\nsys.exit(3)",
                           stdin=subprocess.PIPE)
    first = observe(lineage, collector)
    assert proc.pid not in first.zombies and os.getpid() not in first.unreaped
    proc.stdin.close()
    wait_state(proc.pid, "Z")
    second = observe(lineage, collector)
    zombie = second.zombies[proc.pid]
    assert decode_wait_status(zombie.exit_code) == "exit 3" and not zombie.threads_alive and not zombie.seen_at_start
    assert zombie.since == second.snapshot.taken_at
    assert second.unreaped[os.getpid()].count == 1
    assert second.unreaped[os.getpid()].oldest_since == zombie.since
    mine = [e for e in second.events if e.identity[0] == proc.pid]
    assert {type(e) for e in mine} == {BecameZombie, StateChanged}
    assert [(e.parent, e.exit_code) for e in mine if isinstance(e, BecameZombie)] == [(os.getpid(), 3 << 8)]
    assert [e.new for e in mine if isinstance(e, StateChanged)] == ["Z"]
    explained = explain_zombie(zombie, os.getpid(), "python", second.snapshot.taken_at + 75)
    assert explained.startswith("zombie for 1m15s: exit 3") and f"parent {os.getpid()}" in explained
    assert format_stat(second.snapshot.get(proc.pid)) == ps_stat(proc.pid)

    children.reap(proc)
    third = observe(lineage, collector)
    assert proc.pid not in third.zombies and os.getpid() not in third.unreaped


def test_zombie_killed_by_sigkill_and_seen_at_start(children):
    first_zombie = children.zombie(0)
    killed = children.sleeper()
    os.kill(killed.pid, signal.SIGKILL)
    wait_state(killed.pid, "Z")
    observations = Lineage().observe(ProcfsCollector().sweep())
    assert decode_wait_status(observations.zombies[killed.pid].exit_code) == "killed by SIGKILL"
    assert decode_wait_status(observations.zombies[first_zombie.pid].exit_code) == "exit 0"
    assert observations.zombies[killed.pid].seen_at_start  # already Z when first seen: "at least"
    assert observations.unreaped[os.getpid()].count == 2
    explained = explain_zombie(observations.zombies[killed.pid], 1, "x", observations.snapshot.taken_at + 5)
    assert explained.startswith("zombie for at least 5s: killed by SIGKILL")
    # under a second there is nothing worth saying about the wait
    assert explain_zombie(observations.zombies[killed.pid], 1, "x", observations.snapshot.taken_at).startswith("zombie: ")


# The main thread exits with pthread_exit while another thread sleeps: ps shows Zl, and the process is not dead.
ZL = f"""
import ctypes, threading, time
threading.Thread(target=time.sleep, args=({LIFETIME},)).start()
print("ready", flush=True)
ctypes.CDLL(None).pthread_exit(None)
"""


def test_zl_is_not_a_plain_zombie(children):
    proc = children.python(ZL, state="Z")
    wait_state(proc.pid, "Z")
    wait_until(lambda: ps_stat(proc.pid) == "Zl", what="ps to show Zl")
    observations = Lineage().observe(ProcfsCollector().sweep())
    p = observations.snapshot.get(proc.pid)
    assert format_stat(p) == ps_stat(proc.pid) == "Zl"
    zombie = observations.zombies[proc.pid]
    assert zombie.threads_alive
    assert os.getpid() not in observations.unreaped  # not counted as an unreaped child
    assert "not dead" in explain_zombie(zombie, os.getpid(), "python", observations.snapshot.taken_at)


def test_decode_wait_status_units():
    assert decode_wait_status(0) == "exit 0"
    assert decode_wait_status(3 << 8) == "exit 3"
    assert decode_wait_status(255 << 8) == "exit 255"
    assert decode_wait_status(9) == "killed by SIGKILL"
    assert decode_wait_status(15) == "killed by SIGTERM"
    assert decode_wait_status(0x80 | 6) == "killed by SIGABRT (core dumped)"
    assert decode_wait_status(0x7F | (19 << 8)) == "stopped by SIGSTOP"
    assert decode_wait_status(0xFFFF) == "continued"
    assert decode_wait_status(63) == "killed by signal 63"  # real-time signals have no name


def test_decode_wait_status_of_real_children(children):
    cases = []
    for code in (0, 3, 255):
        proc = children.start(["sh", "-c", f"exit {code}"])
        cases.append((children.reap(proc), f"exit {code}"))
    for signo in (signal.SIGTERM, signal.SIGKILL):
        proc = children.sleeper()
        os.kill(proc.pid, signo)
        cases.append((children.reap(proc), f"killed by {signo.name}"))
    proc = children.sleeper()
    os.kill(proc.pid, signal.SIGSTOP)
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    cases.append((status, "stopped by SIGSTOP"))
    os.kill(proc.pid, signal.SIGCONT)
    _, status = os.waitpid(proc.pid, os.WCONTINUED)
    cases.append((status, "continued"))
    for status, expected in cases:
        assert decode_wait_status(status) == expected, hex(status)


def test_memory_is_bounded_under_churn():
    lineage = Lineage()
    base = [fake_proc(1, 0, "init"), fake_proc(50, 1, "shell", session=50)]
    for tick in range(500):
        churn = [fake_proc(100 + i, 50, "job", start_ticks=tick * 1000 + i, session=50,
                           state="Z" if i % 3 == 0 else "S") for i in range(20)]
        lineage.observe(snapshot_of(base + churn, taken_at=FAKE_NOW + tick))
        assert len(lineage) == 22
    # pid reuse with a new start time is a new identity: no stale zombie time or orphan is carried over
    reused = fake_proc(100, 1, "job", start_ticks=10**9, session=50)
    observations = lineage.observe(snapshot_of([*base, reused], taken_at=FAKE_NOW + 999))
    assert len(lineage) == 3 and 100 not in observations.zombies
    assert observations.orphans[100].evidence == "session"  # first seen under init: static evidence only


def test_memory_is_bounded_with_real_churn(children):
    lineage, collector = Lineage(), ProcfsCollector()
    for _ in range(5):
        kid = children.sleeper()
        observe(lineage, collector)
        kid.kill()
        kid.wait()
    observations = observe(lineage, collector)
    assert len(lineage) == len(observations.snapshot)


def test_format_duration():
    assert [format_duration(s) for s in (-1, 0, 59, 60, 3599, 3600, 86399, 86400 + 3600)] == [
        "0s", "0s", "59s", "1m00s", "59m59s", "1h00m", "23h59m", "1d01h"]
