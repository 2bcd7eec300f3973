"""The typed event stream, from real processes: first seen, exec, state changes, zombie, reaped, exited unseen,
threads; the bounded history behind the timeline and the event log; and the words for each event in both
languages."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from support.polling import wait_until
from support.procs import LIFETIME, read_stat, wait_state

from procwatch.engine import catalog, history, words
from procwatch.engine.collector import ProcfsCollector
from procwatch.engine.fake import fake_proc, snapshot_of
from procwatch.engine.history import History
from procwatch.engine.lineage import (
    BecameZombie,
    Exec,
    Exited,
    FirstSeen,
    Lineage,
    Reaped,
    Reparented,
    StateChanged,
    ThreadsChanged,
)

pytestmark = pytest.mark.usefixtures("no_leftover_children")

# Prints ready, then on each line of stdin: "thread" starts a thread, "exec" execs sleep; else sleeps.
WORKER = f"""
import os, sys, threading, time
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "thread":
        threading.Thread(target=time.sleep, args=({LIFETIME},), daemon=True).start()
        print("started", flush=True)
    elif line.strip() == "exec":
        os.execvp("sleep", ["sleep", "{LIFETIME}"])
"""


def mine(observations, pid: int) -> list:
    return [e for e in observations.events if e.identity[0] == pid]


def sweep(lineage: Lineage, hist: History | None = None):
    observations = lineage.observe(ProcfsCollector().sweep())
    if hist is not None:
        hist.record(observations)
    return observations


def test_a_process_life_as_events_from_real_processes(children):
    lineage, hist = Lineage(), History()
    sweep(lineage, hist)  # the first sweep names nothing new: everything was already there
    proc = children.python(WORKER, stdin=subprocess.PIPE)
    seen = sweep(lineage, hist)
    first = [e for e in mine(seen, proc.pid) if isinstance(e, FirstSeen)]
    assert len(first) == 1 and first[0].parent == os.getpid() and first[0].name.startswith("python")
    assert first[0].started <= first[0].at

    proc.stdin.write(b"thread\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == b"started"
    wait_state(proc.pid, "S")  # it runs between its print and its next read: judge it once blocked again
    threads = [e for e in mine(sweep(lineage, hist), proc.pid) if isinstance(e, ThreadsChanged)]
    assert [(e.old, e.new) for e in threads] == [(1, 2)]

    os.kill(proc.pid, signal.SIGSTOP)  # our own child
    wait_state(proc.pid, "T")
    changes = [e for e in mine(sweep(lineage, hist), proc.pid) if isinstance(e, StateChanged)]
    assert [(e.old, e.new) for e in changes] == [("S", "T")]
    os.kill(proc.pid, signal.SIGCONT)
    wait_state(proc.pid, "S")
    sweep(lineage, hist)

    proc.stdin.write(b"exec\n")
    proc.stdin.flush()
    wait_until(lambda: (read_stat(proc.pid) or ("",))[0] == "sleep", what="the exec")
    wait_state(proc.pid, "S")
    execs = [e for e in mine(sweep(lineage, hist), proc.pid) if isinstance(e, Exec)]
    assert [e.new_name for e in execs] == ["sleep"] and execs[0].old_name.startswith("python")

    os.kill(proc.pid, signal.SIGTERM)
    wait_state(proc.pid, "Z")
    zombie = [e for e in mine(sweep(lineage, hist), proc.pid) if isinstance(e, BecameZombie)]
    assert [(e.parent, e.exit_code) for e in zombie] == [(os.getpid(), signal.SIGTERM)]
    children.reap(proc)
    reaped = [e for e in mine(sweep(lineage, hist), proc.pid) if isinstance(e, Reaped)]
    assert [(e.parent, e.name) for e in reaped] == [(os.getpid(), "sleep")]

    # the timeline of this one process: every state it went through, as seen, then its end
    timeline = hist.of((proc.pid, first[0].identity[1]))
    states = [(e.old, e.new) for e in timeline if isinstance(e, StateChanged)]
    assert states == [("S", "T"), ("T", "S"), ("S", "Z")]
    assert isinstance(timeline[-1], Reaped)
    text = words.timeline(seen.snapshot.get(proc.pid), timeline, "reaped")
    assert text.startswith(words.clock(first[0].started) + " new → S → ") and text.endswith(" Z → reaped")
    assert [part.split()[-1] for part in text.split(" → ")[2:-1]] == ["T", "S", "Z"]


def test_exited_unseen_is_not_called_a_zombie(children):
    lineage = Lineage()
    sweep(lineage)
    proc = children.sleeper()
    sweep(lineage)
    proc.kill()
    proc.wait()  # reaped before any sweep saw the Z
    gone = [e for e in mine(sweep(lineage), proc.pid) if isinstance(e, (Exited, Reaped))]
    assert [type(e) for e in gone] == [Exited]
    assert "no Z seen" in words.event_words(gone[0], {})


def test_history_is_bounded_and_ended_processes_linger_as_leaves():
    hist, lineage = History(), Lineage()
    init = fake_proc(1, 0, "init", ["init"])
    lineage.observe(snapshot_of([init]))
    at = 1000.0
    for wave in range(40):  # a fork storm: 100 new processes a sweep, each gone at the next
        procs = [init, *(fake_proc(10_000 + wave * 100 + i, 1, "storm", ["storm"]) for i in range(100))]
        snapshot = snapshot_of(procs)
        snapshot = type(snapshot)(snapshot.procs, at + wave * 0.5)
        recent = hist.record(lineage.observe(snapshot))
    assert len(hist) == history.TOTAL  # the global ring is full, not more
    assert len(recent.ended) <= history.MAX_ENDED
    assert len(hist._by_identity) <= 100 + history.MAX_ENDED  # rings for live and recently ended processes only
    assert all(now_pid >= 10_000 for now_pid in recent.ended)
    # a while later every ended one is forgotten
    calm = snapshot_of([init])
    recent = hist.record(lineage.observe(type(calm)(calm.procs, at + 100)))
    recent = hist.record(lineage.observe(type(calm)(calm.procs, at + 200)))
    assert not recent.ended and not recent.new and len(hist._by_identity) == 0


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_event_has_words_in_both_languages(lang):
    events = [
        FirstSeen(100.0, (5, 1), 1, "x", 90.0), Exec(1.0, (5, 1), "sh", "sleep"), StateChanged(1.0, (5, 1), "S", "T"),
        ThreadsChanged(1.0, (5, 1), 1, 3), BecameZombie(1.0, (5, 1), 1, 768), Reaped(1.0, (5, 1), 1, "x", 768),
        Exited(1.0, (5, 1), 1, "x"),
        Reparented(1.0, (5, 1), 4, 1, True),
    ]
    with catalog.using(lang):
        lines = [words.event_words(e, {5: "x", 1: "init"}) for e in events]
    assert all(lines) and len(set(lines)) == len(lines)
    if lang == "zh":
        assert "首次看到" in lines[0] and "终止态" in lines[4] and "收养" in lines[7]
    else:
        assert "created by fork()" in lines[0] and "exit 3" in lines[4] and "adopted by 1 (init)" in lines[7]
