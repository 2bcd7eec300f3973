"""The scenes of the README screenshots and of the SVG snapshot tests: one table, so both show the same screens.

A scene is a size, an optional process to select and keys to press, played on the scripted source
(procwatch.engine.fake) with a fixed clock. `tests/ui/test_snapshots.py` compares each one with its stored SVG;
`screenshots/make_screenshots.py` writes them (and the sandbox, which needs real processes) for the README."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

# Keys after which the poller rebuilds the rows: the scene waits for that rebuild before going on.
REBUILDS = ("slash", "enter", "minus", "plus")


class Scene(NamedTuple):
    name: str
    size: tuple[int, int]
    select: int | None = None
    keys: tuple[str, ...] = ()
    lang: str = "en"


SCENES = (
    Scene("main", (120, 36), select=1400),  # the parent not reaping two zombies, and the likely orphan below it
    Scene("plain", (120, 36)),
    Scene("zombie", (120, 36), select=1401),
    Scene("filter", (120, 36), keys=("slash", *"python", "enter")),
    Scene("help", (120, 36), keys=("question_mark",)),
    Scene("small", (80, 24)),
    # the learner's language: the same screens in Chinese (CJK text takes two cells a character)
    Scene("main-zh", (120, 36), select=1400, lang="zh"),
    Scene("zombie-zh", (160, 45), select=1401, lang="zh"),
    Scene("help-zh", (120, 36), keys=("question_mark",), lang="zh"),
    Scene("small-zh", (80, 24), select=1401, lang="zh"),
)
BY_NAME = {scene.name: scene for scene in SCENES}


def applied(app: Any) -> int:
    return app.last.number if app.last is not None else 0


async def wait_for(pilot: Any, condition: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def play(pilot: Any, scene: Scene) -> None:
    """Bring the app on `pilot` to the scene: first update, selection, keys (each rebuild waited for)."""
    from procwatch.ui.widgets.process_table import ProcessTable

    app = pilot.app
    await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
    if scene.lang != "en":
        app.set_language(scene.lang)
        await pilot.pause()
    if scene.select is not None:
        app.query_one(ProcessTable).select_pid(scene.select)
        await pilot.pause()
    for key in scene.keys:
        seen = applied(app)
        await pilot.press(key)
        if key in REBUILDS:
            await wait_for(pilot, lambda seen=seen: applied(app) > seen, timeout=2, what=f"a rebuild after {key}")
        await pilot.pause()
    await pilot.pause()
