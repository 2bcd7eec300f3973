"""The poller and the widgets: a snapshot that arrives once shutdown began is dropped, not drawn into a DOM that is
gone (seen as `NoMatches: No nodes match 'ProcessTable'` at teardown on a loaded machine)."""

from __future__ import annotations

import os

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from procwatch.engine.fake import FakeCollector
from procwatch.ui.app import make_app
from procwatch.ui.messages import SnapshotReady


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
