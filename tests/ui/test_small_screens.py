"""Small and odd terminals: rows stay visible at 20x6, notes get a line of their own, a long filter keeps its box."""

from __future__ import annotations

import os

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from textual.widgets import Input

from procwatch.engine.fake import FakeCollector, demo_processes, snapshot_of
from procwatch.engine.model import Snapshot
from procwatch.ui.app import make_app
from procwatch.ui.widgets.panels import DetailsPanel, FilterBar
from procwatch.ui.widgets.process_table import ProcessTable


async def started(pilot, app) -> None:
    while app.last is None:
        await pilot.pause(0.01)
    await pilot.pause()


async def test_a_tiny_terminal_still_shows_rows():
    app = make_app(FakeCollector(None), sandbox=False)
    async with app.run_test(size=(20, 6)) as pilot:
        await started(pilot, app)
        assert not app.query_one(DetailsPanel).display
        table = app.query_one(ProcessTable)
        assert table.scrollable_content_region.height >= 2
        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        assert app.query_one(DetailsPanel).display  # back when there is room, as the user left it


async def test_notes_get_a_line_of_their_own_at_80_columns():
    note = "/proc is mounted hidepid=2: only your own processes are visible"
    base = snapshot_of(demo_processes())
    noted = Snapshot(procs=base.procs, taken_at=base.taken_at, sweep_seconds=base.sweep_seconds, notes=("hidepid=2",))
    app = make_app(FakeCollector([noted]), sandbox=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        bar = app.query_one(FilterBar)
        assert bar.display and bar.region.height >= 1
        assert note in str(bar.query_one("#filter-label").render())


async def test_a_long_filter_keeps_room_to_type():
    app = make_app(FakeCollector(None), sandbox=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await pilot.press("slash", *("x" * 120), "enter", "slash")
        await pilot.pause()
        assert app.query_one(Input).region.width >= 20
