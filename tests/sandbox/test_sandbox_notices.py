"""The user is told when the sandbox cannot work: no thread can be started, or the supervisor died while the panel
was closed."""

from __future__ import annotations

import os
import signal
import time

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

import pytest

from procwatch.engine.fake import FakeCollector
from procwatch.sandbox import Sandbox, SandboxRefused
from procwatch.ui.app import make_app
from procwatch.ui.widgets.sandbox_panel import SandboxPanel


def messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def wait_for(pilot, condition, seconds: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


async def test_no_thread_for_a_demo_is_said():
    app = make_app(FakeCollector(None))

    def no_thread(*args, **kwargs):
        raise RuntimeError("can't start new thread")

    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.last is not None, what="the first update")
        app.run_worker = no_thread  # type: ignore[method-assign]
        await pilot.press("z")
        await wait_for(pilot, lambda: any("cannot start a thread" in m for m in messages(app)), what="the notice")


async def test_supervisor_death_with_the_panel_closed_is_told():
    app = make_app(FakeCollector(None))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.last is not None, what="the first update")
        await pilot.press("z")
        await wait_for(pilot, lambda: app.sandbox is not None and app.sandbox.supervisor_pid is not None
                       and bool(app.sandbox.demos()), what="the zombie demo")
        await pilot.press("b")  # close the panel
        await wait_for(pilot, lambda: not app.query_one(SandboxPanel).has_class("open"), what="the panel closed")
        os.kill(app.sandbox.supervisor_pid, signal.SIGKILL)  # the supervisor this test's app started
        await wait_for(pilot, lambda: any(m.startswith("sandbox: ") for m in messages(app)), what="the notice")


def test_an_unwritable_sandbox_log_is_refused_in_one_line(monkeypatch, tmp_path):
    log = tmp_path / "missing-dir" / "sandbox.log"
    monkeypatch.setenv("PROCWATCH_SANDBOX_LOG", str(log))
    with Sandbox() as sb, pytest.raises(SandboxRefused) as refused:
        sb.spawn("S")
    assert str(refused.value) == f"PROCWATCH_SANDBOX_LOG: cannot write to {str(log)!r}: No such file or directory"
    assert sb.supervisor_pid is None
