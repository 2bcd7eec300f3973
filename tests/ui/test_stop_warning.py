"""STOP on procwatch itself (or on its sandbox supervisor: tests/sandbox/test_stopped_supervisor.py) is confirmed
only after a warning that says what stopping it does; other processes and other signals get none. Nothing is sent
here: every dialog is answered no."""

from __future__ import annotations

import os

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from support.tui import applied, table, wait_for

from procwatch.engine.fake import FakeCollector, demo_processes, fake_proc, snapshot_of
from procwatch.engine.procfs import start_ticks
from procwatch.ui.app import make_app
from procwatch.ui.widgets.screens import ConfirmScreen, SignalScreen


async def confirmation_for(pilot, app, pid: int, name: str) -> ConfirmScreen:
    table(app).select_pid(pid)
    await pilot.press("k")
    assert isinstance(app.screen, SignalScreen)
    options = app.screen.query_one("#signals")
    options.highlighted = [options.get_option_at_index(i).id for i in range(options.option_count)].index(name)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, ConfirmScreen)
    return app.screen


async def test_stop_on_procwatch_itself_is_confirmed_only_after_a_warning():
    me = os.getpid()  # procwatch is this test process: the row shows its real identity
    procs = [*demo_processes(), fake_proc(me, 1, "procwatch", ["procwatch"], start_ticks=start_ticks(me))]
    app = make_app(FakeCollector([snapshot_of(procs)]))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
        confirm = await confirmation_for(pilot, app, me, "STOP")
        warning = str(confirm.query_one("#warning").render())
        assert "procwatch itself" in warning and f"kill -CONT {me}" in warning
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)

        confirm = await confirmation_for(pilot, app, me, "TERM")  # ending it is what the user may well want
        assert not confirm.query("#warning")
        await pilot.press("n")
        await pilot.pause()
        other = next(p.pid for p in demo_processes() if p.pid != me)
        confirm = await confirmation_for(pilot, app, other, "STOP")
        assert not confirm.query("#warning")
        await pilot.press("n")
