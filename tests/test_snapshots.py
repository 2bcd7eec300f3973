"""SVG snapshot tests from the scripted source (deterministic: fixed clock, fixed data, UTC, default theme).
Update after a deliberate UI change with: python -m pytest tests/test_snapshots.py --snapshot-update"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
os.environ["TZ"] = "UTC"
time.tzset()

from procwatch.ui.app import make_app
from procwatch.engine.fake import FakeCollector
from procwatch.ui.widgets.process_table import ProcessTable
from tui_helpers import applied, wait_for


def demo_app():
    return make_app(FakeCollector(), theme="textual-dark")


def ready_then(*steps):
    """run_before for snap_compare: wait for the first update, then run steps (callables or key lists)."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
        for step in steps:
            if callable(step):
                step(app)
            else:
                seen = applied(app)
                await pilot.press(*step)
                await wait_for(pilot, lambda: applied(app) > seen, timeout=2, what="a rebuild") if step[0] in (
                    "slash", "enter", "minus", "plus") else None
            await pilot.pause()
        await pilot.pause()

    return run_before


def select(pid):
    return lambda app: app.query_one(ProcessTable).select_pid(pid)


def test_main_view(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=ready_then())


def test_zombie_details(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=ready_then(select(1401)))


def test_orphan_and_reaper_details(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=ready_then(select(1400)))


def test_filter_bar(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=ready_then(["slash", *"python", "enter"]))


def test_help(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=ready_then(["question_mark"]))


def test_small_terminal(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=ready_then())
