"""The threads view's reader: real multithreaded children, per-thread states from /proc/PID/task, a bounded cost."""

from __future__ import annotations

import os

import pytest
from support.procs import PY_THREADS, wait_state

from procwatch.engine.collector import ProcfsCollector
from procwatch.engine.threads import read_threads, with_threads
from procwatch.engine.tree import ProcessFilter, build_rows

pytestmark = pytest.mark.usefixtures("no_leftover_children")


def test_threads_are_read_with_their_own_identity_and_state(children):
    proc = children.python(PY_THREADS)
    for tid in os.listdir(f"/proc/{proc.pid}/task"):  # a thread runs a moment after start() returns, before its sleep
        wait_state(int(tid), "S")
    snapshot = ProcfsCollector().sweep()
    parent = snapshot.procs[proc.pid]
    threads = read_threads(parent)
    expected = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid)
    assert [t.pid for t in threads] == expected and len(expected) == 2
    for t in threads:
        assert (t.ppid, t.user, t.state, t.threads, t.argv) == (proc.pid, parent.user, "S", 1, ())
        assert t.start_ticks >= parent.start_ticks and t.started >= parent.started


def test_the_budget_bounds_the_cost(children):
    procs = [children.python(PY_THREADS), children.python(PY_THREADS)]
    snapshot = ProcfsCollector().sweep()
    mine = {p.pid: snapshot.procs[p.pid] for p in procs}
    rows = build_rows(mine, ProcessFilter())
    out, thread_ids, left_out = with_threads(rows, budget=2)
    assert (len(out), len(thread_ids), left_out) == (4, 2, 1)  # the second process waits for a smaller view
    out, thread_ids, left_out = with_threads(rows)
    assert (len(out), len(thread_ids), left_out) == (6, 4, 0)
    assert [row.guide for row in out[:3]] == ["", "├─ ", "└─ "]  # the threads hang under their process
    assert [row.depth for row in out[:3]] == [0, 1, 1]


def test_single_threaded_processes_cost_nothing(children, monkeypatch):
    proc = children.sleeper()
    snapshot = ProcfsCollector().sweep()
    rows = build_rows({proc.pid: snapshot.procs[proc.pid]}, ProcessFilter())
    monkeypatch.setattr(os, "listdir", lambda path: pytest.fail(f"listed {path}"))
    assert with_threads(rows) == (rows, frozenset(), 0)
