"""The poller and the widgets: a snapshot that arrives once shutdown began is dropped, not drawn into a DOM that is
gone (seen as `NoMatches: No nodes match 'ProcessTable'` at teardown on a loaded machine)."""

from __future__ import annotations

import os

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from procwatch.engine.fake import FakeCollector
from procwatch.ui.app import make_app
from procwatch.ui.messages import SnapshotReady
from procwatch.ui.widgets.process_table import ProcessTable


async def test_a_snapshot_arriving_during_shutdown_is_dropped_and_the_poller_stops():
    app = make_app(FakeCollector(None), sandbox=False)
    posted = []
    close_all = app._close_all

    async def close_all_then_deliver() -> None:
        await close_all()  # the screens and their widgets are gone now
        assert app.last is not None
        posted.append(app.post_message(SnapshotReady(app.last)))  # what the poller thread may do at this moment

    app._close_all = close_all_then_deliver  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        while app.last is None:
            await pilot.pause(0.01)
    assert posted == [True]
    assert app._exception is None, app._exception
    assert not app.poller._thread.is_alive()


async def test_the_tables_last_messages_arriving_during_shutdown_are_dropped():
    """The table posts CursorMoved and SelectedExited while it shows a snapshot: handled once the widgets are gone,
    they asked for the details panel (seen as `NoMatches: No nodes match 'DetailsPanel'` under load)."""
    app = make_app(FakeCollector(None), sandbox=False)
    posted = []
    close_all = app._close_all

    async def close_all_then_deliver() -> None:
        await close_all()
        proc = next(iter(app.last.observations.snapshot.procs.values()))
        posted.append(app.post_message(ProcessTable.CursorMoved(proc)))
        posted.append(app.post_message(ProcessTable.SelectedExited(proc, None)))

    app._close_all = close_all_then_deliver  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        while app.last is None:
            await pilot.pause(0.01)
    assert posted == [True, True]
    assert app._exception is None, app._exception
