"""SVG snapshot tests: every scene of screenshots/scenes.py (the README's screenshots) on the scripted source, with
a fixed clock, UTC and the default theme. After a deliberate UI change, update with:
    python -m pytest tests/ui/test_snapshots.py --snapshot-update && python screenshots/make_screenshots.py"""

from __future__ import annotations

import os
import time

import pytest
from scenes import SCENES, Scene, play

from procwatch.engine.fake import FakeCollector
from procwatch.ui.app import make_app

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.mark.parametrize("scene", SCENES, ids=[scene.name for scene in SCENES])
def test_scene(snap_compare, scene: Scene) -> None:
    async def run_before(pilot) -> None:
        await play(pilot, scene)

    app = make_app(FakeCollector(), theme="textual-dark")
    assert snap_compare(app, terminal_size=scene.size, run_before=run_before)
