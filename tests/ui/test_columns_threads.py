"""The TUI's columns (chosen at start and toggled from the palette), the unit picker, the threads view on real
multithreaded children, and --procfs refusing signals when the procfs is not ours."""

from __future__ import annotations

import os
import signal

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

import pytest
from support.procs import LIFETIME, wait_state
from support.tui import applied, next_update, notifications, row_text, run_from_palette, shown_pids, table, wait_for
from textual.widgets import OptionList

from procwatch.engine import procfs
from procwatch.engine.columns import parse_columns
from procwatch.engine.fake import FakeCollector, demo_processes, snapshot_of
from procwatch.engine.tree import ProcessFilter
from procwatch.ui.app import make_app
from procwatch.ui.widgets.screens import PickerScreen

SIZE = (160, 40)

# A process whose main thread sleeps (S) while one thread burns CPU (R) and another sleeps: STAT Sl, three
# threads with their own letters.
BUSY_THREAD = ("import threading, time\n"
               f"end = time.time() + {LIFETIME}\n"
               "def burn():\n    while time.time() < end: pass\n"
               f"threading.Thread(target=time.sleep, args=({LIFETIME},), daemon=True).start()\n"
               "threading.Thread(target=burn, daemon=True).start()\n"
               f"print('ready', flush=True)\ntime.sleep({LIFETIME})")
# Zl: the main thread calls pthread_exit() while two threads go on.
MAIN_EXITS = ("import ctypes, threading, time\n"
              f"for _ in range(2):\n    threading.Thread(target=time.sleep, args=({LIFETIME},)).start()\n"
              "print('ready', flush=True)\nctypes.CDLL(None).pthread_exit(None)")


async def started(pilot, app):
    await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
    await pilot.pause()


def thread_pids(app, of: int) -> set[int]:
    """The thread rows shown under process `of`."""
    t = table(app)
    return {row.proc.pid for row in t.rows if row.proc.ppid == of and row.proc.identity in t.thread_rows}


def header(app) -> str:
    return table(app).render_line(0).text


async def test_chosen_columns_and_the_palette_toggles_them():
    procs = [p._replace(cgroup="/system.slice/nginx.service") if p.name == "nginx" else p for p in demo_processes()]
    app = make_app(FakeCollector([snapshot_of(procs)]), sandbox=False,
                   columns=parse_columns("pid,ppid,stat,thr,unit,args"))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert header(app).split() == ["PID", "PPID", "STAT", "THR", "UNIT", "COMMAND"]
        assert row_text(app, 421).split()[:5] == ["421", "420", "S", "1", "nginx.service"]
        assert row_text(app, 1400).split()[:4] == ["1400", "1211", "Sl+", "4"]
        await run_from_palette(pilot, app, "Hide column PPID")
        await wait_for(pilot, lambda: "PPID" not in header(app), what="the PPID column to go")
        assert header(app).split() == ["PID", "STAT", "THR", "UNIT", "COMMAND"]
        app.toggle_column("ppid")
        await pilot.pause()
        assert header(app).split() == ["PID", "PPID", "STAT", "THR", "UNIT", "COMMAND"]  # back in its place
        # The unit picker: counts per unit, and the choice filters.
        await pilot.press("U")
        assert isinstance(app.screen, PickerScreen)
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert "nginx.service (3)" in labels
        options.highlighted = labels.index("nginx.service (3)")
        await pilot.press("enter")
        await wait_for(pilot, lambda: shown_pids(app) == [1, 420, 421, 422], what="the unit filter")


async def test_renamed_process_shows_its_comm():
    app = make_app(FakeCollector([snapshot_of(demo_processes())]), sandbox=False)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert "/sbin/init  ‹comm systemd›" in row_text(app, 1)  # argv[0] says init, comm says systemd
        assert "‹comm" not in row_text(app, 421)


async def test_threads_view_shows_each_threads_own_state(children):
    proc = children.python(BUSY_THREAD)
    wait_state(proc.pid, "S")
    tids = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid)
    assert len(tids) == 2
    app = make_app(process_filter=ProcessFilter(text=str(proc.pid)), interval=0.25, sandbox=False)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert not set(tids) & set(shown_pids(app))  # off by default
        await pilot.press("H")
        await wait_for(pilot, lambda: set(tids) <= set(shown_pids(app)), what="the thread rows")
        pids = shown_pids(app)
        assert pids.index(proc.pid) < pids.index(tids[0]) < pids.index(tids[1])  # children of their process
        states = {}
        for tid in tids:
            text = row_text(app, tid)
            assert "‹thread›" in text and ("├─ python" in text or "└─ python" in text), text
            states[tid] = text.split()[2]
        assert row_text(app, proc.pid).split()[2].startswith("S")
        assert "R" in states.values() or "S" in states.values()
        await wait_for(pilot, lambda: "R" in [row_text(app, t).split()[2] for t in tids],
                       what="the burning thread to show R")  # a running thread inside a sleeping process
        await wait_for(pilot, lambda: max(float(row_text(app, t).split()[3]) for t in tids) > 20,
                       what="the burning thread's own CPU%")  # measured per thread between two refreshes
        await pilot.press("H")
        await wait_for(pilot, lambda: not set(tids) & set(shown_pids(app)), what="the thread rows to go")


async def test_threads_of_a_zl_process_are_alive(children):
    proc = children.python(MAIN_EXITS, state="Z")
    for tid in os.listdir(f"/proc/{proc.pid}/task"):  # each thread asleep (S) before any sweep judges it
        if int(tid) != proc.pid:
            wait_state(int(tid), "S")
    app = make_app(process_filter=ProcessFilter(text=str(proc.pid)), interval=0.25, sandbox=False)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("H")
        await wait_for(pilot, lambda: len(thread_pids(app, proc.pid)) == 2, what="two live threads")
        assert row_text(app, proc.pid).split()[2] == "Zl"
        for tid in thread_pids(app, proc.pid):
            assert row_text(app, tid).split()[2] == "S"


async def test_foreign_procfs_refuses_signals(children, tmp_path):
    sleeper = children.sleeper()
    copy = tmp_path / "proc"
    (copy / str(sleeper.pid)).mkdir(parents=True)
    for name in ("stat", "status", "cmdline"):
        (copy / str(sleeper.pid) / name).write_bytes(procfs.read(f"/proc/{sleeper.pid}/{name}"))
    app = make_app(sandbox=True, procfs=str(copy), interval=0.25)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert shown_pids(app) == [sleeper.pid]
        app._send_signal(table(app).selected, "TERM")
        await pilot.pause()
        assert any("another PID namespace" in n for n in notifications(app))
        assert procfs.stat_fields(sleeper.pid) is not None and sleeper.poll() is None  # nothing was sent
        app.action_spawn_demo("S")
        await pilot.pause()
        assert app.sandbox is None  # no demo either
        await next_update(pilot, app)
    assert sleeper.poll() is None
    sleeper.send_signal(signal.SIGKILL)


@pytest.mark.parametrize("columns", ["pid,stat", "command"])
async def test_the_command_and_tree_always_come_last(columns):
    app = make_app(FakeCollector([snapshot_of(demo_processes())]), sandbox=False, columns=parse_columns(columns))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert header(app).split()[-1] == "COMMAND"
        assert "└─ " in row_text(app, 1401) or "├─ " in row_text(app, 1401)


async def test_unit_picker_reads_cgroups_on_demand(children):
    """The real collector reads no cgroup until the picker asks; then the picker opens with every unit counted."""
    from procwatch.engine.procfs import read_cgroup
    from procwatch.engine.tree import cgroup_unit

    proc = children.sleeper()
    unit = cgroup_unit(read_cgroup(proc.pid))
    app = make_app(interval=0.25, sandbox=False)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert not app.poller.has_cgroups
        await pilot.press("U")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen), what="the unit picker")
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any(label.startswith(f"{unit} (") for label in labels), labels
