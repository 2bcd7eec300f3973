"""A learner at 80x24: `z` then `w` shows the zombie (its marker readable), the narration's newest line and the reap,
without scrolling; the same in Chinese. Real demos, made by the sandbox supervisor this test's app starts."""

from __future__ import annotations

import os

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

import pytest
from support.polling import wait_until
from support.procs import running
from support.tui import applied, ended_pids, plain_text, screen_text, shown_pids, shown_state, table, wait_for
from textual.widgets import RichLog

from procwatch.engine import catalog
from procwatch.engine.lesson import STEPS
from procwatch.ui.app import make_app
from procwatch.ui.lesson import LessonPanel
from procwatch.ui.widgets.panels import DetailsPanel
from procwatch.ui.widgets.sandbox_panel import SandboxPanel


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_z_then_w_at_80x24_shows_the_zombie_its_narration_and_the_reap(lang):
    catalog.set_language(lang)
    app = make_app(interval=0.25)
    started: list[tuple[int, int]] = []
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
            await pilot.press("z")
            panel = app.query_one(SandboxPanel)
            await wait_for(pilot, lambda: app.sandbox is not None
                           and any(d.recipe == "Z" and d.role == "child" for d in app.sandbox.demos()),
                           what="the zombie demo")
            zombie = next(d for d in app.sandbox.demos() if d.recipe == "Z" and d.role == "child")
            started = [d.identity for d in app.sandbox.demos()] + [app.sandbox.supervisor_identity]
            # the row of a sweep that caught the child alive, before it exited, would have no zombie marker
            await wait_for(pilot, lambda: shown_state(app, zombie.pid) == "Z" and table(app).selected is not None
                           and table(app).selected.pid == zombie.pid, what="the cursor on the zombie")
            await pilot.pause()
            # the panel went under the tree: the tree keeps the screen's width, the details step aside
            assert panel.has_class("narrow") and panel.region.width == 80
            assert table(app).region.width == 80 and not app.query_one(DetailsPanel).display
            marker = "zombie, exit 3" if lang == "en" else "僵尸进程, 退出码 3"
            assert marker in screen_text(app)  # on screen at 80 columns: markers go before the command
            log = panel.query_one(RichLog)
            assert log.region.bottom <= app.size.height - 1  # above the footer: its newest line is not covered
            assert log.scroll_y == log.max_scroll_y  # the newest narration line is the one shown
            assert any("os._exit(3)" in line for line in panel.narration)
            assert panel.selected_demo is not None and panel.selected_demo.group == zombie.group
            # the demo list's title says what the highlighted process is, in the learner's language: the parent's
            # own fact (sent by the demo as a message id and its values), then the recipe's description
            parent = next(d for d in panel.demo_rows if d.group == zombie.group and d.role == "parent")
            demos = panel.query_one("#demos")
            demos.move_cursor(row=panel.demo_rows.index(parent))
            await pilot.pause()
            title = plain_text(panel.query_one("#sandbox-title").content, width=2000)
            if lang == "en":
                assert f"{parent.pid} parent: The parent of zombie {zombie.pid}: it sleeps and never" in title
            else:
                assert f"{parent.pid} 父进程: 僵尸进程 {zombie.pid} 的父进程: 它在睡眠" in title
                assert "子进程调用了 os._exit(3)" in title and "parent" not in title  # the recipe's, in Chinese too
            demos.move_cursor(row=panel.demo_rows.index(zombie))
            await pilot.pause()

            await pilot.press("w")  # from the tree: the demo keys work while the panel is open
            await wait_for(pilot, lambda: zombie.pid not in shown_pids(app), what="the reap")
            reaped = "wait() reaped" if lang == "en" else "wait() 回收了"
            assert any(reaped in line for line in panel.narration)
            await wait_for(pilot, lambda: zombie.pid in ended_pids(app) or zombie.pid not in app.last.recent.ended,
                           what="the reaped row")
    finally:
        if app.sandbox is not None:
            app.sandbox.close()
    wait_until(lambda: not any(running(i) for i in started), what="every demo to end")


async def test_the_guided_lesson_walks_the_tutorial_with_live_demos():
    app = make_app(interval=0.25, lesson=True)
    started: list[tuple[int, int]] = []
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
            panel = app.query_one(LessonPanel)
            assert panel.has_class("open") and app.lesson.index == 0
            # step 3 is the tree: the cursor goes to PID 1, a root, and the words say why there are two
            await pilot.press("right_square_bracket", "right_square_bracket")
            await pilot.pause()
            assert app.lesson.index == 2 and table(app).selected.pid == 1
            assert "two roots" in plain_text(panel.content)
            # the zombie step starts a real zombie and puts the cursor on it; in Chinese the words follow
            await pilot.press("L")
            zombie_step = next(i for i, s in enumerate(STEPS) if s.recipe == "Z")
            app.lesson.go(zombie_step)
            await wait_for(pilot, lambda: app.sandbox is not None
                           and any(d.recipe == "Z" and d.role == "child" for d in app.sandbox.demos()),
                           what="the zombie demo")
            started = [d.identity for d in app.sandbox.demos()] + [app.sandbox.supervisor_identity]
            zombie = next(d for d in app.sandbox.demos() if d.recipe == "Z" and d.role == "child")
            await wait_for(pilot, lambda: table(app).selected is not None and table(app).selected.pid == zombie.pid,
                           what="the cursor on the lesson's zombie")
            text = plain_text(panel.content)
            assert f"{zombie_step + 1}/{len(STEPS)}" in text and "僵尸进程" in text and "wait()" in text
            await pilot.press("T")
            await pilot.pause()
            assert not panel.has_class("open") and not app.lesson.open
    finally:
        if app.sandbox is not None:
            app.sandbox.close()
    wait_until(lambda: not any(running(i) for i in started), what="every demo to end")
