"""A stopped or traced supervisor cannot act (on EOF, on its alarm, on a handled death signal): nothing of the
sandbox may outlive procwatch by more than 3 s anyway, no demo action may block the UI, and quitting stays quick.

The supervisor and its demos are started by this test (through an owner process or in-process), so stopping,
tracing and killing them is allowed; every identity is checked (pid + start time) before it is signalled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from support.polling import wait_until
from support.procs import PYTHON, REPO, alive, descendant_identities, read_line, running, signalled, wait_state
from support.tui import applied, notifications, table
from support.tui import wait_for as pilot_wait_for

from procwatch.engine import procfs
from procwatch.sandbox import Sandbox, SandboxRefused
from procwatch.ui.app import make_app
from procwatch.ui.widgets.screens import ConfirmScreen, SignalScreen

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux only")

OUTLIVE_LIMIT = 3.0  # seconds: the bound for anything of the sandbox after procwatch is gone

# Owns a Sandbox as procwatch does (started from its main thread), prints every identity, then waits to be killed.
OWNER = r"""
import json, sys
from procwatch.engine import procfs
from procwatch.sandbox import Sandbox
sb = Sandbox()
for key in ("T", "Z", "s", "init-orphan"):  # the orphan adopted by init is outside the supervisor's subtree
    sb.spawn(key)
pid, start = sb.supervisor_identity
tree = [[p, procfs.start_ticks(p)] for p in procfs.descendants(pid)] + [list(d.identity) for d in sb.demos()]
print(json.dumps({"supervisor": [pid, start], "tree": tree}), flush=True)
sys.stdin.readline()
"""

# Traces one process (PTRACE_ATTACH: it shows `t`), then waits to be killed; the kernel detaches it then.
TRACER = r"""
import ctypes, os, sys
pid = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
    print("refused", os.strerror(ctypes.get_errno()), flush=True)
    sys.exit(1)
os.waitpid(pid, 0x40000000)  # __WALL: the attach stop
print("ready", flush=True)
sys.stdin.readline()
"""


def freeze(children, identity: tuple[int, int], how: str) -> None:
    """Put the supervisor in T (SIGSTOP) or t (traced by a helper of ours)."""
    if how == "stopped":
        assert signalled(*identity, signal.SIGSTOP)
        wait_state(identity[0], "T")
        return
    tracer = children.start([PYTHON, "-c", TRACER, str(identity[0])], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    said = read_line(tracer)
    if said != "ready":
        pytest.skip(f"cannot ptrace here: {said}")
    wait_state(identity[0], "t")


@pytest.mark.parametrize("how", ["stopped", "traced"])
def test_nothing_outlives_a_killed_procwatch_when_the_supervisor_is_frozen(children, how):
    env = {**os.environ, "PYTHONPATH": REPO}
    owner = children.start([PYTHON, "-c", OWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    ids = json.loads(read_line(owner))
    supervisor = tuple(ids["supervisor"])
    sandbox = [supervisor, *(tuple(i) for i in ids["tree"])]
    assert len(sandbox) >= 5 and all(alive(i) for i in sandbox)
    freeze(children, supervisor, how)

    owner.kill()  # SIGKILL: procwatch gets no chance to clean up
    owner.wait()
    gone_at = time.monotonic()
    wait_until(lambda: not any(running(i) for i in sandbox), timeout=OUTLIVE_LIMIT + 5,
               what="every sandbox process to end")
    took = time.monotonic() - gone_at
    assert took <= OUTLIVE_LIMIT, f"the sandbox outlived procwatch by {took:.2f} s"


def test_requests_and_close_do_not_wait_for_a_stopped_supervisor():
    sb = Sandbox()
    try:
        stopped = sb.spawn("T")
        sb.spawn("Z")
        supervisor = sb.supervisor_identity
        assert supervisor is not None
        sandbox = [supervisor, *descendant_identities(supervisor[0])]
        assert signalled(*supervisor, signal.SIGSTOP)
        wait_state(supervisor[0], "T")

        asked = time.monotonic()
        with pytest.raises(SandboxRefused, match=r"supervisor \d+ is stopped by a signal \(T\): send it CONT"):
            sb.cont(stopped.pid, stopped.start_ticks)
        assert time.monotonic() - asked < 0.5, "a request waited for a supervisor that cannot answer"

        closing = time.monotonic()
        sb.close()
        assert time.monotonic() - closing < 1.5
        wait_until(lambda: not any(running(i) for i in sandbox), timeout=1.0, what="every sandbox process to end")
    finally:
        sb.close()


async def test_the_ui_never_waits_for_a_stopped_supervisor_and_warns_before_stopping_it():
    app = make_app(interval=0.25)
    sandbox: list[tuple[int, int]] = []
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot_wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
            await pilot.press("z")
            await pilot_wait_for(pilot, lambda: app.sandbox is not None and len(app.sandbox.demos()) >= 2,
                                 what="the zombie demo")
            supervisor = app.sandbox.supervisor_identity
            sandbox = [supervisor, *(d.identity for d in app.sandbox.demos())]

            # k on the supervisor's row: STOP is confirmed only after a warning (not sent here: n)
            await pilot_wait_for(pilot, lambda: supervisor[0] in app.procs(), what="the supervisor's row")
            table(app).select_pid(supervisor[0])
            await pilot.press("k")
            assert isinstance(app.screen, SignalScreen)
            app.screen.query_one("#signals").highlighted = 4  # SIGSTOP
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            assert "the sandbox supervisor" in str(app.screen.query_one("#warning").render())
            await pilot.press("n", "escape")
            assert procfs.stat_fields(supervisor[0])[0] != b"T"

            assert signalled(*supervisor, signal.SIGSTOP)  # as if from another terminal
            wait_state(supervisor[0], "T")
            demo = next(d for d in app.sandbox.demos() if d.role == "parent")
            app.sandbox_controller.act("kill", demo)  # what `x` in the demo list does
            await pilot_wait_for(pilot, lambda: any("is stopped by a signal (T)" in n for n in notifications(app)),
                                 what="the refusal")

            def slow_reap(pid: int, start_ticks: int | None) -> None:  # a supervisor that answers late
                time.sleep(1.0)
                raise SandboxRefused("answered late")

            app.sandbox.reap = slow_reap  # type: ignore[method-assign]
            acting = time.monotonic()
            app.sandbox_controller.act("reap", demo)  # what `w` in the demo list does
            assert time.monotonic() - acting < 0.2, "a demo action blocked the UI"
            await pilot_wait_for(pilot, lambda: any("answered late" in n for n in notifications(app)),
                                 what="the late answer")
            quitting = time.monotonic()
        assert time.monotonic() - quitting < 2.5, "quitting waited for the stopped supervisor"
        wait_until(lambda: not any(running(i) for i in sandbox), timeout=1.0, what="every sandbox process to end")
    finally:
        if app.sandbox is not None:
            app.sandbox.close()

