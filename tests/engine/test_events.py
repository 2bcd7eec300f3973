"""The typed event stream, from real processes: first seen, exec, state changes, zombie, reaped, exited unseen,
threads; the bounded history behind the timeline and the event log; and the words for each event in both
languages."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess

import pytest
from support.polling import wait_until
from support.procs import LIFETIME, read_line, read_stat, wait_state

from procwatch.engine import catalog, history, procfs, words
from procwatch.engine.collector import ProcfsCollector
from procwatch.engine.fake import FAKE_NOW, fake_proc, snapshot_of
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


def test_thread_churn_is_coalesced_and_crowds_nothing_out():
    """A thread pool changes its count at every sweep, twice as long as the global ring holds: the event log keeps
    one line for it (the count before, the latest, how many changes since when) and every other event as it was;
    the pool's own ring (its timeline) keeps its state changes."""
    hist, lineage = History(), Lineage()
    init = fake_proc(1, 0, "init", ["init"])
    pool = fake_proc(500, 1, "pool", ["pool"], threads=4)
    worker = fake_proc(600, 1, "worker", ["worker"])
    clock = iter(range(1, 10**6))

    def sweep(*procs):
        hist.record(lineage.observe(snapshot_of([init, *procs], taken_at=FAKE_NOW + next(clock))))

    sweep(pool, worker)
    sweep(pool._replace(state="T"), worker)
    sweep(pool, worker._replace(state="Z", exit_code=3 << 8))
    before = hist.newest_first()
    assert [type(e) for e in before] == [BecameZombie, StateChanged, StateChanged, StateChanged]
    churn = 2 * history.TOTAL
    for i in range(churn):
        sweep(pool._replace(threads=4 + (i + 1) % 3), worker._replace(state="Z", exit_code=3 << 8))
    threads = [e for e in hist.newest_first() if isinstance(e, ThreadsChanged)]
    assert [(e.identity, e.old, e.new, e.changes) for e in threads] == [(pool.identity, 4, 4 + churn % 3, churn)]
    assert threads[0].since == FAKE_NOW + 4 and threads[0].at == FAKE_NOW + 3 + churn  # the first change, the last
    assert hist.newest_first() == [threads[0], *before] and len(hist) == len(before) + 1
    timeline = hist.of(pool.identity)
    assert [(e.old, e.new) for e in timeline if isinstance(e, StateChanged)] == [("S", "T"), ("T", "S")]
    assert timeline[-1] == threads[0]
    line = words.event_line(threads[0], {500: "pool"})
    assert line.endswith(f"500 (pool): threads 4 → {4 + churn % 3} ({churn} changes since {words.clock(FAKE_NOW + 4)})")
    single = ThreadsChanged(FAKE_NOW, pool.identity, 1, 2)  # one change, as lineage and --watch have it
    assert words.event_words(single, {500: "pool"}) == "500 (pool): threads 1 → 2"


def test_the_thread_entries_are_bounded():
    hist, lineage = History(), Lineage()
    init = fake_proc(1, 0, "init", ["init"])
    pools = [fake_proc(1000 + i, 1, "pool", ["pool"]) for i in range(history.THREAD_ENTRIES + 50)]
    for sweep in range(4):  # every pool changes its thread count at every sweep, in pid order
        procs = [init, *(p._replace(threads=1 + sweep) for p in pools)]
        hist.record(lineage.observe(snapshot_of(procs, taken_at=FAKE_NOW + sweep)))
    threads = [e for e in hist.newest_first() if isinstance(e, ThreadsChanged)]
    assert len(threads) == len(hist) == history.THREAD_ENTRIES
    assert {e.identity for e in threads} == {p.identity for p in pools[50:]}  # the ones that changed last
    assert {e.new for e in threads} == {4}  # each the latest count (an entry evicted and made again starts anew)


# A thread pool driven by the test: "more" starts a thread (it waits on its own gate), "fewer" opens the gate of
# the newest and joins it; each answer is the number of threads Python counts.
POOL = """
import sys, threading
print("ready", flush=True)
gates = []
for line in sys.stdin:
    if line.strip() == "more":
        gate = threading.Event()
        thread = threading.Thread(target=gate.wait)
        thread.start()
        gates.append((gate, thread))
    else:
        gate, thread = gates.pop()
        gate.set()
        thread.join()
    print(threading.active_count(), flush=True)
"""


def test_a_real_thread_pool_churning_keeps_the_other_events_in_the_log(children, monkeypatch):
    """Real threads come and go in a child for three times as many sweeps as the (shortened) rings hold: one
    coalesced line for them; the state changes of the pool and of another child stay. Only our children's events
    are recorded: whatever else runs on this machine has its own."""
    monkeypatch.setattr(history, "TOTAL", 8)
    monkeypatch.setattr(history, "PER_PROCESS", 4)
    lineage, hist, collector = Lineage(), History(), ProcfsCollector()
    pool = children.python(POOL, stdin=subprocess.PIPE)
    other = children.sleeper()
    ours = {(pid, procfs.start_ticks(pid)) for pid in (pool.pid, other.pid)}
    pool_identity = (pool.pid, procfs.start_ticks(pool.pid))

    def sweep() -> list:
        observations = lineage.observe(collector.sweep())
        mine = dataclasses.replace(observations, events=tuple(e for e in observations.events if e.identity in ours))
        hist.record(mine)
        return list(mine.events)

    sweep()
    for pid, letter in ((pool.pid, "T"), (other.pid, "T"), (pool.pid, "S")):  # our own children
        os.kill(pid, signal.SIGSTOP if letter == "T" else signal.SIGCONT)
        wait_state(pid, letter)
        assert [type(e) for e in sweep()] == [StateChanged]
    kept = hist.newest_first()
    count, changes = 1, 3 * history.TOTAL
    for step in range(changes):
        more = step % 4 < 2  # 1 → 2 → 3 → 2 → 1 → 2 ...
        pool.stdin.write(b"more\n" if more else b"fewer\n")
        pool.stdin.flush()
        count += 1 if more else -1
        assert read_line(pool) == str(count)
        # a joined thread can still be counted by the kernel for a moment; and the pool runs between its answer
        # and its next read: judge it once it has the count and is blocked again
        wait_until(lambda count=count: int(procfs.stat_fields(pool.pid)[17]) == count, what=f"{count} threads")
        wait_state(pool.pid, "S")
        assert [(type(e), e.new) for e in sweep()] == [(ThreadsChanged, count)]
    threads = [e for e in hist.newest_first() if isinstance(e, ThreadsChanged)]
    assert [(e.identity, e.old, e.new, e.changes) for e in threads] == [(pool_identity, 1, count, changes)]
    assert hist.newest_first() == [threads[0], *kept]  # the three state changes are all still there
    assert [(e.old, e.new) for e in hist.of(pool_identity) if isinstance(e, StateChanged)] == [("S", "T"), ("T", "S")]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_event_has_words_in_both_languages(lang):
    events = [
        FirstSeen(100.0, (5, 1), 1, "x", 90.0), Exec(1.0, (5, 1), "sh", "sleep"), StateChanged(1.0, (5, 1), "S", "T"),
        ThreadsChanged(1.0, (5, 1), 1, 3), BecameZombie(1.0, (5, 1), 1, 768), Reaped(1.0, (5, 1), 1, "x", 768),
        Exited(1.0, (5, 1), 1, "x"),
        Reparented(1.0, (5, 1), 4, 1, True),
        ThreadsChanged(1.0, (5, 1), 1, 3, changes=9, since=0.5),  # the event log's coalesced line
    ]
    with catalog.using(lang):
        lines = [words.event_words(e, {5: "x", 1: "init"}) for e in events]
    assert all(lines) and len(set(lines)) == len(lines)
    if lang == "zh":
        assert "首次看到" in lines[0] and "终止态" in lines[4] and "收养" in lines[7]
    else:
        assert "created by fork()" in lines[0] and "exit 3" in lines[4] and "adopted by 1 (init)" in lines[7]
