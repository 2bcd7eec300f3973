"""What a learner sees: every word in English or Chinese (switched live), the timeline and the five-state diagram of
the selected process, the event log, and processes that ended staying a moment, dimmed and named so. Scripted
snapshots (a fake source); the real demos are in tests/sandbox/test_teaching_sandbox.py."""

from __future__ import annotations

import os

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

import pytest
from rich.cells import cell_len
from support.tui import applied, ended_pids, next_update, plain_text, row_text, selected_details, table, wait_for

from procwatch.engine import catalog
from procwatch.engine.fake import FAKE_NOW, FakeCollector, demo_processes, fake_proc, snapshot_of
from procwatch.ui.app import make_app
from procwatch.ui.widgets.panels import DetailsPanel, SummaryBar
from procwatch.ui.widgets.screens import EventsScreen, HelpScreen, JumpScreen


def footer_words(app) -> list[str]:
    return [b.binding.description for b in app.active_bindings.values() if b.binding.show]


def story() -> list:
    """Three sweeps: 402 (cron) goes S -> T, 1403 (D) exits unseen, 1401 (a zombie) is reaped; 1999 is new."""
    base = demo_processes()
    second = [p._replace(state="T") if p.pid == 402 else p for p in base if p.pid != 1403]
    second.append(fake_proc(1999, 1400, "newcomer", ["newcomer"], age=0.5))
    third = [p for p in second if p.pid != 1401]
    return [snapshot_of(base), snapshot_of(second, FAKE_NOW + 1), snapshot_of(third, FAKE_NOW + 2)]


async def test_the_language_switches_live_and_every_word_follows():
    app = make_app(FakeCollector([snapshot_of(demo_processes())]), sandbox=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
        table(app).select_pid(1401)  # the zombie
        await pilot.pause()
        assert "Quit" in footer_words(app) and "zombie, exit 3" in row_text(app, 1401)
        await pilot.press("L")
        await pilot.pause()
        assert catalog.current() == "zh"
        assert "退出" in footer_words(app) and "English" in footer_words(app)
        assert "僵尸进程, 退出码 3" in row_text(app, 1401)
        assert "未回收 2 个僵尸子进程" in row_text(app, 1400)
        summary = str(app.query_one(SummaryBar).render())
        assert "个进程" in summary and "僵尸 2" in summary
        details = str(app.query_one(DetailsPanel).render())
        assert "僵尸进程 (终止态)" in details and "父进程 1400" in details and "wait()" in details
        await pilot.press("question_mark")
        await pilot.pause()
        help_text = plain_text(app.screen.query("Static").last().content)
        assert isinstance(app.screen, HelpScreen) and "术语表" in help_text and "会话组组长" in help_text
        assert "关闭" in footer_words(app)  # a dialog made after the switch: its keys in Chinese too
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("L")
        await pilot.pause()
        assert catalog.current() == "en" and "Quit" in footer_words(app)
        # a dialog open while the language changes (the palette works over dialogs): its keys follow
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, JumpScreen) and "Cancel" in footer_words(app)
        app.set_language("zh")
        await pilot.pause()
        assert "取消" in footer_words(app) and "Cancel" not in footer_words(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, JumpScreen) and "退出" in footer_words(app)


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_chinese_keeps_columns_aligned_in_cells(size):
    catalog.set_language("zh")
    app = make_app(FakeCollector([snapshot_of(demo_processes())]), sandbox=False)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
        await pilot.pause()
        t = table(app)
        width = t.scrollable_content_region.width
        for y in range(t.scrollable_content_region.height):
            line = t.render_line(y)
            assert line.cell_length == width and cell_len(line.text) == width, y
        assert "退出" in footer_words(app)  # started in Chinese: the bindings were relabelled at mount


async def test_timeline_model_diagram_event_log_and_ended_rows():
    app = make_app(FakeCollector(story()), sandbox=False)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
        table(app).select_pid(402)
        await next_update(pilot, app)
        await next_update(pilot, app)
        details = selected_details(app)
        assert "timeline: " in details and " → S → " in details and details.split("timeline: ")[1].split("\n")[0].endswith(" T")
        assert "waiting (strictly: suspended)" in details and "new  →  ready  ⇄  running  →  waiting  →  terminated" in details
        # ended processes stay a moment, dimmed and named: 1403 exited unseen, 1401 was reaped after Z
        assert set(ended_pids(app)) >= {1403, 1401}
        assert "‹exited›" in row_text(app, 1403) and "‹reaped›" in row_text(app, 1401)
        assert "‹new›" in row_text(app, 1999)
        # the event log, newest first
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EventsScreen)
        lines = app.screen.lines
        assert any("1401 (python3) was reaped (exit 3)" in line for line in lines)
        assert any("402 (cron): S → T (waiting (strictly: suspended))" in line for line in lines)
        assert any("1999 (newcomer) first seen" in line for line in lines)
        assert any("1403" in line and "no Z seen" in line for line in lines)
        reaped_at = next(i for i, line in enumerate(lines) if "was reaped" in line)
        stopped_at = next(i for i, line in enumerate(lines) if "S → T" in line)
        assert reaped_at < stopped_at  # newest first
        await pilot.press("escape")
        await pilot.pause()
        # the log follows the filter
        await pilot.press("slash", *"newcomer", "enter")
        await wait_for(pilot, lambda: app.last.view.process_filter.text == "newcomer" and app.last.rows is table(app).rows,
                       what="the filter")
        await pilot.press("e")
        await pilot.pause()
        assert app.screen.lines and all("1999" in line for line in app.screen.lines)


async def test_ended_rows_keep_their_mark_through_a_column_change_and_the_cursor_skips_them():
    app = make_app(FakeCollector(story()), sandbox=False)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
        await next_update(pilot, app)
        await next_update(pilot, app)
        assert 1403 in ended_pids(app)
        app.toggle_column("ppid")  # from the palette
        await pilot.pause()
        t = table(app)
        assert 1403 in ended_pids(app) and "‹exited›" in row_text(app, 1403)  # still marked, not a live row
        assert t.render_line(0).text.split()[:3] == ["PID", "PPID", "USER"]  # the header follows at once
        assert not t.select_pid(1403)  # an ended row is not a place for the cursor
        rows = [r.proc.pid for r in t.rows]
        t.select_pid(rows[rows.index(1403) - 1])
        await pilot.press("down")  # onto the ended row: the cursor goes on to the next live one
        assert t.selected.pid != 1403 and t.ended(t.selected) is None
