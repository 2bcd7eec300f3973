"""No leaks, however procwatch's side ends; refusals when not permitted (lowered rlimits, uid nobody).

Each test runs an "owner": a python subprocess that owns a Sandbox (as procwatch does), spawns demos, prints
their identities as JSON, then waits to be closed, signalled or killed. Identities are (pid, start time).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys

import pytest
from support.polling import DEADLINE, poll
from support.procs import REPO, alive, ppid_of, proc_stat, signalled

from procwatch.engine import procfs
from procwatch.sandbox import RECIPES
from procwatch.sandbox.recipes import LESSON_KEYS

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux only")

ROOT = REPO
EVERY_KIND = ["T", "t", "D", "Z", "orphan", "R", "S", "N", "s", "l", "+", "Zl", "<", "L"]
SEEN: set[tuple[int, int]] = set()

OWNER = r'''
import json, os, resource, signal, subprocess, sys, threading, time
signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as a terminal's procwatch has it, even when the suite runs under nohup
opts = json.loads(sys.argv[1])
if opts.get("drop"):
    resource.setrlimit(resource.RLIMIT_NICE, (0, 0))
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))
    if os.geteuid() == 0:
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
from procwatch.sandbox import Sandbox, SandboxRefused
from procwatch.engine import procfs
import procwatch.sandbox.client as client
if opts.get("no_precheck"):
    client.precheck = lambda key: None   # let the demo itself try, and fail with the real error
sb = Sandbox()
if opts.get("thread"):   # started from a short-lived thread: no death signal, the pipe EOF must do it all
    t = threading.Thread(target=sb.start); t.start(); t.join()
out = {"refused": {}, "stat": {}, "uid": os.geteuid()}
for key in opts["recipes"]:
    try:
        d = sb.spawn(key)
    except SandboxRefused as e:
        out["refused"][key] = str(e)
        continue
    deadline = time.monotonic() + 5
    while True:
        stat = subprocess.run(["ps", "-o", "stat=", "-p", str(d.pid)], capture_output=True, text=True).stdout.strip()
        if stat == d.stat_shown or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    out["stat"][key] = stat
out["supervisor"] = list(sb.supervisor_identity) if sb.supervisor_identity else None
out["demos"] = [list(d.identity) for d in sb.demos()]
out["tree"] = [[p, procfs.start_ticks(p)] for p in procfs.descendants(sb.supervisor_pid)] if sb.supervisor_pid else []
print(json.dumps(out), flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "close":
        sb.close()
        print(json.dumps({"closed": True}), flush=True)
    elif cmd == "status":
        print(json.dumps({"supervisor": sb.supervisor_pid, "demos": len(sb.demos())}), flush=True)
time.sleep(60)
'''



def adopted_zombie(identity, ids) -> bool:
    """A zombie whose parent is not a sandbox process (init, or a subreaper above procwatch): dead, waiting only
    for that reaper."""
    fields = procfs.stat_fields(identity[0])
    ours = {pid for pid, _ in ids}
    return bool(fields) and fields[0] == b"Z" and int(fields[19]) == identity[1] and int(fields[1]) not in ours


def left(ids) -> list:
    return [(i, proc_stat(i[0]), ppid_of(i[0])) for i in ids if alive(i)]


def wait_for(pred, timeout: float = 2.0):
    return poll(pred, timeout)


class Owner:
    def __init__(self, opts: dict, python: str = sys.executable):
        env = dict(os.environ, PYTHONPATH=ROOT)
        env.pop("PROCWATCH_SANDBOX_LOG", None)
        self.proc = subprocess.Popen([python, "-c", OWNER, json.dumps(opts)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd="/", env=env, start_new_session=True)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)

    def read(self, timeout: float = 20.0) -> dict:
        if not self.sel.select(timeout):
            raise AssertionError("the owner did not answer")
        line = self.proc.stdout.readline()
        assert line, "the owner exited"
        return json.loads(line)

    def send(self, cmd: str) -> None:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def end(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # our own unreaped child
        self.proc.wait(timeout=DEADLINE)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.sel.close()


@pytest.fixture(scope="module", autouse=True)
def nothing_left_behind():
    yield
    poll(lambda: not any(alive(i) for i in SEEN), DEADLINE)  # zombies left to init are reaped on its schedule
    left = [i for i in SEEN if alive(i)]
    for pid, ticks in left:
        signalled(pid, ticks, signal.SIGKILL)
    assert not left, f"sandbox processes left behind: {left}"


def identities(report: dict) -> list[tuple[int, int]]:
    ids = {tuple(i) for i in report["demos"]} | {tuple(i) for i in report["tree"]}
    if report["supervisor"]:
        ids.add(tuple(report["supervisor"]))
    ids = {i for i in ids if i[1] is not None}
    SEEN.update(ids)
    return sorted(ids)


@pytest.mark.parametrize("how", ["close", "SIGTERM", "SIGHUP", "SIGKILL", "SIGKILL-no-deathsig", "kill-supervisor"])
def test_nothing_left_however_procwatch_ends(how):
    owner = Owner({"recipes": EVERY_KIND, "thread": how == "SIGKILL-no-deathsig"})
    try:
        report = owner.read()
        ids = identities(report)
        if how == "SIGKILL-no-deathsig":  # the creating thread is gone: the supervisor must still be there
            assert alive(tuple(report["supervisor"]))
        assert not report["refused"], report["refused"]  # as root every recipe works
        kinds = {k: report["stat"][k] for k in ("T", "t", "D", "Z", "orphan")}
        assert kinds == {"T": "T", "t": "t", "D": "D", "Z": "Z", "orphan": "S"}, kinds
        assert len(ids) >= len(EVERY_KIND) + 5  # helpers and the supervisor too
        assert all(alive(i) for i in ids), [i for i in ids if not alive(i)]
        sup = tuple(report["supervisor"])
        if how == "close":
            owner.send("close")
            assert owner.read() == {"closed": True}
        elif how == "kill-supervisor":
            assert signalled(*sup, signal.SIGKILL)
        else:
            sig = {"SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}.get(how, signal.SIGKILL)
            owner.proc.send_signal(sig)
            assert owner.proc.wait(timeout=DEADLINE) == -sig  # a default action: at once, but a loaded CI is slow
        # Within 2 s every process the sandbox started is gone, or dead: a zombie adopted by init. A zombie is
        # left for init when its reaper died first: the supervisor itself when procwatch was killed, and every
        # demo when the supervisor was SIGKILLed (nothing of ours is left to call wait()). Init reaps them on its
        # own schedule (this machine's PID 1: about once a second, slower under load), so they must be gone soon
        # after too.
        assert wait_for(lambda: not any(alive(i) and not adopted_zombie(i, ids) for i in ids), 2.0), left(ids)
        assert wait_for(lambda: not any(alive(i) for i in ids), 15.0), left(ids)
        if how in ("close", "kill-supervisor"):  # the owner lives on and knows the sandbox is gone
            owner.send("status")
            assert owner.read() == {"supervisor": None, "demos": 0}
    finally:
        owner.end()


@pytest.mark.parametrize("how", ["close", "SIGKILL", "kill-supervisor"])
def test_no_lesson_outlives_procwatch(how):
    """The tutorial's demos too: the orphan adopted by init (outside the supervisor's subtree) included. While the
    supervisor lives it kills that orphan by identity; once the supervisor is gone, the orphan's lifeline pipe
    ends it. Nothing runs 3 s after procwatch's end."""
    owner = Owner({"recipes": list(LESSON_KEYS)})
    try:
        report = owner.read()
        ids = identities(report)
        assert not report["refused"], report["refused"]
        assert report["stat"] == {key: RECIPES[key].stat_shown for key in LESSON_KEYS}, report["stat"]
        orphan = next(tuple(i) for i in report["demos"] if ppid_of(i[0]) not in {pid for pid, _ in ids})
        assert alive(orphan)  # adopted outside the sandbox, alive
        if how == "close":
            owner.send("close")
            assert owner.read() == {"closed": True}
        elif how == "kill-supervisor":
            assert signalled(*tuple(report["supervisor"]), signal.SIGKILL)
        else:
            owner.proc.send_signal(signal.SIGKILL)
            assert owner.proc.wait(timeout=5) == -signal.SIGKILL
        assert wait_for(lambda: not any(alive(i) and not adopted_zombie(i, ids) for i in ids), 3.0), left(ids)
        assert wait_for(lambda: not any(alive(i) for i in ids), 15.0), left(ids)
    finally:
        owner.end()


def _python_for_nobody() -> str | None:
    """An interpreter uid 65534 can run (sys.executable may live under a 0700 home)."""
    for cand in (sys.executable, "/usr/bin/python3"):
        if not os.path.exists(cand):
            continue
        try:
            r = subprocess.run([cand, "-c", "import sys; assert sys.version_info >= (3, 10)"], user=65534,
                               group=65534, extra_groups=[], cwd="/", capture_output=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            continue
        if r.returncode == 0:
            return cand
    return None


@pytest.fixture(scope="module")
def unprivileged_python():
    if os.geteuid() != 0:
        return sys.executable  # already unprivileged: lowering the rlimits is enough
    python = _python_for_nobody()
    if python is None:
        pytest.skip("no python interpreter that uid 65534 can run")
    return python


@pytest.mark.parametrize("precheck", [True, False], ids=["precheck", "demo-tries"])
def test_refusals_when_not_permitted(unprivileged_python, precheck):
    owner = Owner({"recipes": ["<", "L", *EVERY_KIND[:-2]], "drop": True, "no_precheck": not precheck},
                  python=unprivileged_python)
    try:
        report = owner.read()
        ids = identities(report)
        assert report["uid"] == (65534 if os.geteuid() == 0 else os.geteuid())
        refused = report["refused"]
        assert set(refused) == {"<", "L"}, refused
        assert "CAP_SYS_NICE or RLIMIT_NICE >= 25" in refused["<"] and "RLIMIT_NICE is 0" in refused["<"]
        assert "RLIMIT_MEMLOCK" in refused["L"] and "CAP_IPC_LOCK" in refused["L"]
        assert all("\n" not in m for m in refused.values())
        if not precheck:
            assert "EPERM" in refused["<"] and "mlock() failed" in refused["L"]
        # The sandbox keeps working: everything else shows its STAT, unprivileged.
        for key in EVERY_KIND[:-2]:
            assert report["stat"][key] == RECIPES[key].stat_shown, (key, report["stat"][key])
        owner.send("close")
        assert owner.read() == {"closed": True}
        assert wait_for(lambda: not any(alive(i) for i in ids), 2.0)
    finally:
        owner.end()
