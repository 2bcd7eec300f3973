"""Pilot tests for the TUI key paths, driven by a scripted source (and one end-to-end test on the real system)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

import pytest
from support.tui import (
    applied,
    next_update,
    notifications,
    plain_text,
    row_text,
    run_from_palette,
    selected_details,
    shown_pids,
    table,
    wait_for,
)
from textual.widgets import OptionList

from procwatch.engine.fake import FakeCollector, demo_processes, fake_proc, snapshot_of
from procwatch.engine.model import MAX_INTERVAL
from procwatch.engine.procfs import start_ticks
from procwatch.ui.app import make_app
from procwatch.ui.widgets.panels import DetailsPanel, FilterBar, SummaryBar
from procwatch.ui.widgets.screens import ConfirmScreen, HelpScreen, PickerScreen, SignalScreen

SIZE = (120, 36)


def demo_app(*snapshots, **kwargs):
    """The app on scripted snapshots, each handed over by one sweep. With more than one, only the test asks for
    sweeps (next_update): a timed one (every second) would hand the next snapshot over before the test looked when
    the start-up was slow, and it selected a process that was already gone."""
    if len(snapshots) > 1:
        kwargs.setdefault("interval", MAX_INTERVAL)
    return make_app(FakeCollector(list(snapshots) or None), **kwargs)


async def started(pilot, app):
    await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
    await pilot.pause()


async def test_main_view_shows_tree_states_and_markers():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        pids = shown_pids(app)
        assert pids[:2] == [1, 310] and len(pids) == len(demo_processes())
        summary = str(app.query_one(SummaryBar).render())
        assert "22 processes" in summary and "Z 2" in summary and "D 1" in summary and "zombies 2" in summary
        assert "‹zombie, exit 3›" in row_text(app, 1401)
        assert "‹zombie, killed by SIGKILL›" in row_text(app, 1402)
        assert "not reaping 2 zombies" in row_text(app, 1400)
        assert "likely orphan" in row_text(app, 1500)
        assert "uninterruptible" in row_text(app, 1403)
        assert "├─ " in row_text(app, 1400) or "└─ " in row_text(app, 1400)


async def test_cursor_keeps_its_process_when_rows_are_inserted_above():
    first = snapshot_of(demo_processes())
    newcomers = [fake_proc(300 + i, 1, "newd", ["newd", str(i)]) for i in range(5)]
    second = snapshot_of(demo_processes() + newcomers)
    app = demo_app(first, second)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert table(app).select_pid(2001)
        screen_line = table(app).cursor_index - round(table(app).scroll_y)
        await next_update(pilot, app)
        assert 300 in shown_pids(app)
        assert table(app).selected.pid == 2001
        assert table(app).cursor_index - round(table(app).scroll_y) == screen_line


async def test_selected_process_exits_cursor_moves_to_parent():
    second = snapshot_of([p for p in demo_processes() if p.pid != 1403])
    app = demo_app(snapshot_of(demo_processes()), second)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        table(app).select_pid(1403)
        await next_update(pilot, app)
        assert table(app).selected.pid == 1400
        assert any("1403" in n and "exited" in n and "1400" in n for n in notifications(app))


async def test_reused_pid_is_treated_as_exit():
    reused = [p if p.pid != 1600 else p._replace(start_ticks=999_999, name="other") for p in demo_processes()]
    app = demo_app(snapshot_of(demo_processes()), snapshot_of(reused))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        table(app).select_pid(1600)
        await next_update(pilot, app)
        assert table(app).selected.pid == 1211  # the parent: the new 1600 is another process
        assert any("1600" in n and "exited" in n for n in notifications(app))


async def test_text_filter_keeps_ancestors_as_context_and_escape_clears():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("slash", *"worker.py")
        await wait_for(pilot, lambda: shown_pids(app)[-1] == 1403, what="the filtered rows")
        assert shown_pids(app) == [1, 415, 1200, 1210, 1211, 1400, 1403]
        contexts = {row.proc.pid: row.context for row in table(app).rows}
        assert contexts[1403] is False and all(contexts[pid] for pid in (1, 415, 1211, 1400))
        assert "context" in row_text(app, 1400)
        await pilot.press("enter")
        assert "worker.py" in str(app.query_one("#filter-label").render())
        assert app.focused is table(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(shown_pids(app)) == len(demo_processes()), what="cleared filter")
        assert not app.query_one(FilterBar).has_class("active")


async def test_user_and_state_pickers():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("u")
        assert isinstance(app.screen, PickerScreen)
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert "alice (10)" in labels and "www-data (2)" in labels
        options.highlighted = next(i for i, label in enumerate(labels) if label.startswith("www-data"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: shown_pids(app) == [1, 420, 421, 422], what="www-data filter")
        await pilot.press("s")
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        options.highlighted = next(i for i, label in enumerate(labels) if label.startswith("Z "))
        assert "(2)" in labels[options.highlighted]
        await pilot.press("enter")
        await wait_for(pilot, lambda: shown_pids(app) == [], what="user AND state filter: no match")
        assert "no process matches user www-data AND state Z" in table(app).render_line(1).text
        assert app.view.process_filter.users == {"www-data"} and app.view.process_filter.states == {"Z"}
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(shown_pids(app)) == len(demo_processes()), what="cleared filters")


async def test_collapse_expand_keys_and_all():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        table(app).select_pid(1211)
        await pilot.press("enter")
        await wait_for(pilot, lambda: 1400 not in shown_pids(app), what="collapse")
        assert "▸7 " in row_text(app, 1211)
        assert table(app).selected.pid == 1211
        await pilot.press("right")
        await wait_for(pilot, lambda: 1400 in shown_pids(app), what="expand")
        await pilot.press("left")
        await wait_for(pilot, lambda: 1400 not in shown_pids(app), what="collapse with left")
        await pilot.press("left")  # collapsed already: go to the parent
        assert table(app).selected.pid == 1210
        await pilot.press("minus")
        await wait_for(pilot, lambda: shown_pids(app) == [1, 2], what="collapse all")
        await pilot.press("plus")
        await wait_for(pilot, lambda: len(shown_pids(app)) == len(demo_processes()), what="expand all")


async def test_collapsed_state_survives_refresh_and_mouse_click_on_guide_toggles():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        index = shown_pids(app).index(420)
        row = table(app).rows[index]
        from procwatch.ui.widgets.process_table import COMMAND_COLUMN
        await pilot.click(table(app), offset=(COMMAND_COLUMN + len(row.guide), index + 1))
        await wait_for(pilot, lambda: 421 not in shown_pids(app), what="click collapse")
        await next_update(pilot, app)
        assert 421 not in shown_pids(app)
        await pilot.click(table(app), offset=(COMMAND_COLUMN + len(row.guide), index + 1))
        await wait_for(pilot, lambda: 421 in shown_pids(app), what="click expand")


async def test_pause_interval_sort_and_kernel_keys():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("space")
        assert app.poller.paused and "PAUSED" in str(app.query_one(SummaryBar).render())
        await pilot.press("space")
        assert not app.poller.paused
        await pilot.press("greater_than_sign")
        assert app.interval == 2.0 and app.poller.interval == 2.0
        await pilot.press("less_than_sign", "less_than_sign")
        assert app.interval == 0.5
        await pilot.press("P")
        await wait_for(pilot, lambda: app.last.view.sort == "cpu", what="sort by cpu")
        children_of_init = [r.proc.pid for r in table(app).rows if r.proc.ppid == 1]
        assert children_of_init[0] == 2001  # postgres has the most CPU among init's children
        await pilot.press("N")
        await wait_for(pilot, lambda: app.last.view.sort == "pid", what="sort by pid")
        await pilot.press("K")
        await wait_for(pilot, lambda: 2 not in shown_pids(app), what="kernel threads hidden")
        assert "kernel threads hidden" in str(app.query_one("#filter-label").render())


async def test_details_panel_explains_a_zombie_and_its_parent():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        table(app).select_pid(1401)
        await pilot.pause()
        text = selected_details(app)
        assert "Z: zombie" in text and "5-state: terminated" in text
        assert "exit 3" in text and "Parent 1400 (python3) must call wait()" in text
        assert "Killing a zombie does nothing" in text
        table(app).select_pid(1400)
        await pilot.pause()
        assert "2 exited children not reaped" in selected_details(app)
        table(app).select_pid(1500)
        await pilot.pause()
        assert "likely orphan" in selected_details(app)
        await pilot.press("d")
        assert not app.query_one(DetailsPanel).display


async def test_help_and_command_palette():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = " ".join(plain_text(w.content) for w in app.screen.query("Static"))
        assert "disk sleep (uninterruptible wait)" in help_text and "send TERM, KILL" in help_text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await run_from_palette(pilot, app, "Filter by state Z")
        await wait_for(pilot, lambda: shown_pids(app) == [1, 415, 1200, 1210, 1211, 1400, 1401, 1402],
                       what="palette filter")
        app.jump_to(2001)  # filtered out: a warning instead
        await pilot.pause()
        assert any("no process 2001" in n for n in notifications(app))


async def test_hostile_names_are_text_not_markup():
    hostile = fake_proc(3000, 1, "[b]x[/b]", ["[@click=app.quit]", "[link=http://x]y[/link]", "\x1b[31mred"])
    app = demo_app(snapshot_of([*demo_processes(), hostile]))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        text = row_text(app, 3000)
        assert "[@click=app.quit] [link=http://x]y[/link] \\e[31mred" in text
        index = shown_pids(app).index(3000)
        await pilot.click(table(app), offset=(60, index + 1))
        await pilot.pause()
        assert app.is_running and table(app).selected.pid == 3000
        assert "[b]x[/b]" in selected_details(app)


@pytest.fixture
def real_child():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def snapshot_with(child_pid: int, ticks: int):
    procs = [*demo_processes(), fake_proc(child_pid, 1, "python3", ["python3", "-c", "sleep"], start_ticks=ticks)]
    return snapshot_of(procs)


async def choose_signal(pilot, app, name: str) -> None:
    await pilot.press("k")
    assert isinstance(app.screen, SignalScreen)
    options = app.screen.query_one(OptionList)
    options.highlighted = [options.get_option_at_index(i).id for i in range(options.option_count)].index(name)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, ConfirmScreen)
    assert str(os.getpid()) not in str(app.screen.query_one(".title").render())
    await pilot.press("y")
    await pilot.pause()


def ps_stat(pid: int) -> str:
    return subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()


async def test_signal_dialog_sends_to_the_right_process(real_child):
    ticks = start_ticks(real_child.pid)
    app = demo_app(snapshot_with(real_child.pid, ticks))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        table(app).select_pid(real_child.pid)
        await choose_signal(pilot, app, "STOP")
        await wait_for(pilot, lambda: ps_stat(real_child.pid).startswith("T"), what="the child stopped")
        assert any(f"sent SIGSTOP to {real_child.pid}" in n for n in notifications(app))
        os.kill(real_child.pid, signal.SIGCONT)


async def test_signal_dialog_refuses_a_reused_pid(real_child):
    ticks = start_ticks(real_child.pid)
    app = demo_app(snapshot_with(real_child.pid, ticks + 12345))  # same PID, another process
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        table(app).select_pid(real_child.pid)
        await choose_signal(pilot, app, "KILL")
        assert any("now belongs to another process" in n for n in notifications(app))
        assert real_child.poll() is None  # still alive: nothing was sent


async def test_small_and_large_terminals_and_resize():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        assert table(app).scrollable_content_region.height >= 5
        for size in [(200, 50), (40, 10), (300, 80), (80, 24)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            table(app).render_line(1)
        assert app.is_running


async def test_end_to_end_real_zombie_appears_with_marker():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    try:
        deadline_ok = False
        for _ in range(200):
            if ps_stat(child.pid).startswith("Z"):
                deadline_ok = True
                break
            await __import__("asyncio").sleep(0.02)
        assert deadline_ok, "the child did not become a zombie"
        app = make_app(interval=0.25)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.last is not None and child.pid in shown_pids(app), what="the zombie row")
            text = row_text(app, child.pid)
            assert " Z " in text and "zombie, exit 3" in text
            assert "not reaping 1 zombie" in row_text(app, os.getpid())
    finally:
        child.wait()


async def test_command_line_presets_show_in_the_filter_bar_and_long_lines_scroll_sideways():
    from procwatch.engine.tree import ProcessFilter

    app = demo_app(process_filter=ProcessFilter(users=frozenset(["www-data"])), sort="mem", theme="textual-light")
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        assert shown_pids(app) == [1, 420, 421, 422]
        assert "user www-data" in str(app.query_one("#filter-label").render())
        assert app.theme == "textual-light" and app.last.view.sort == "mem"
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(shown_pids(app)) == len(demo_processes()), what="cleared preset")
        assert table(app).max_scroll_x > 0
        await pilot.press("shift+right", "shift+right")
        assert round(table(app).scroll_x) == 16
        from procwatch.ui.widgets.process_table import HEADER
        assert table(app).render_line(0).text.startswith(HEADER[16:30])
        await pilot.press("shift+left")
        assert round(table(app).scroll_x) == 8


async def test_a_failing_sweep_is_reported_and_the_next_one_still_runs():
    class Flaky(FakeCollector):
        def sweep(self):
            self.sweeps += 1
            if self.sweeps == 2:
                raise OSError("proc went away")
            return self.snapshots[0]

    app = make_app(Flaky())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        app.poller.refresh_now()
        await wait_for(pilot, lambda: any("sweep failed" in n and "proc went away" in n for n in notifications(app)),
                       what="the failure notice")
        seen = applied(app)
        app.poller.refresh_now()
        await wait_for(pilot, lambda: applied(app) > seen, what="a sweep after the failure")
