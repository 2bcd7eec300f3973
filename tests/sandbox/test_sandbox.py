"""The sandbox with real processes: every recipe shows its STAT in `ps`, actions, narration, identity checks.

Every process a test starts is tracked by identity (pid, start time) and killed at teardown if still there.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from support.polling import DEADLINE, poll
from support.procs import alive, ppid_of, signalled, wait_state
from support.ps import ps_stat

from procwatch.engine import catalog, procfs
from procwatch.engine.words import demo_fact, sandbox_line
from procwatch.sandbox import RECIPES, Demo, Sandbox, SandboxEvent, SandboxRefused
from procwatch.sandbox import protocol as wire
from procwatch.sandbox.recipes import LESSON_KEYS

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux only")

SEEN: set[tuple[int, int]] = set()  # every identity the sandbox started in this module



def wait_for(pred, timeout: float = 3.0):
    return poll(pred, timeout)


class Log:
    def __init__(self):
        self.events: list[SandboxEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: SandboxEvent) -> None:
        with self.lock:
            self.events.append(event)
            if event.demo is not None:
                SEEN.add(event.demo.identity)

    def texts(self) -> list[str]:
        with self.lock:
            return [sandbox_line(e.story) for e in self.events if e.story is not None]

    def has(self, fragment: str) -> bool:
        return any(fragment in t for t in self.texts())


def _track(sb: Sandbox) -> None:
    if sb.supervisor_identity:
        SEEN.add(sb.supervisor_identity)
    for d in sb.demos():
        SEEN.add(d.identity)


@pytest.fixture(scope="module", autouse=True)
def nothing_left_behind():
    yield
    # A demo whose supervisor was killed at close (a slow close) is a zombie adopted by init until init reaps it
    poll(lambda: not any(alive(i) for i in SEEN), DEADLINE)
    left = [i for i in SEEN if alive(i)]
    for pid, ticks in left:  # clean up by identity, then fail
        signalled(pid, ticks, signal.SIGKILL)
    assert not left, f"sandbox processes left behind: {left}"


def _sandbox_with_log():
    log = Log()
    sb = Sandbox(on_event=log)
    try:
        yield sb, log
    finally:
        _track(sb)
        sb.close()


shared = pytest.fixture(scope="module", name="shared")(_sandbox_with_log)
fresh = pytest.fixture(name="fresh")(_sandbox_with_log)


def _group(sb: Sandbox, demo) -> list:
    return [d for d in sb.demos() if d.group == demo.group]


def said_in_both(demo: Demo) -> dict[str, str]:
    """What the sandbox panel says of one demo process in each language (its own fact, from the record's id and
    values, then its recipe's description): a phrase of the catalogue, never the neutral one, and Chinese in
    Chinese."""
    from procwatch.ui.widgets.sandbox_panel import demo_description  # (the panel's words: no Textual needed)

    said = {}
    for lang in catalog.LANGUAGES:
        with catalog.using(lang):
            assert demo_fact(demo.says, demo.fields) != catalog.t("sandbox.proc.unknown"), demo
            said[lang] = demo_description(demo)
    assert said["en"] != said["zh"] and re.search("[\u4e00-\u9fff]", said["zh"]), said
    return said


def test_plain_monitoring_starts_no_process():
    before = set(procfs.descendants(os.getpid()))
    sb = Sandbox(on_event=Log())
    assert Sandbox.check("S") is None and sb.demos() == []
    assert sb.supervisor_pid is None
    assert set(procfs.descendants(os.getpid())) <= before
    sb.close()  # nothing to close: no error
    with pytest.raises(SandboxRefused):
        sb.kill(os.getpid())


@pytest.mark.parametrize("key", [key for key in RECIPES if key not in LESSON_KEYS])  # lessons: test_lessons.py
def test_recipe_shows_its_stat(shared, key):
    sb, _log = shared
    if Sandbox.check(key):
        pytest.skip(Sandbox.check(key))
    demo = sb.spawn(key)
    group = _group(sb, demo)
    for d in group:
        SEEN.add(d.identity)
        said_in_both(d)
    assert demo.stat_shown == RECIPES[key].stat_shown
    assert wait_for(lambda: ps_stat(demo.pid) == demo.stat_shown), (key, ps_stat(demo.pid), demo.stat_shown)
    assert demo.current_stat() == demo.stat_shown
    # Demos are never children of procwatch.
    assert all(ppid_of(d.pid) != os.getpid() for d in group)
    if key == "orphan":
        assert ppid_of(demo.pid) == sb.supervisor_pid
    if key == "Z":
        # SIGKILL does nothing to a zombie: kill its parent instead; the supervisor adopts and reaps the zombie.
        sb.kill(demo.pid)
        time.sleep(0.05)
        assert alive(demo.identity)
        parent = next(d for d in group if d.role == "parent")
        sb.kill(parent.pid, parent.start_ticks)
    else:
        sb.kill(demo.pid, demo.start_ticks)
    assert wait_for(lambda: not any(alive(d.identity) for d in group), 2.0), [(d.pid, ps_stat(d.pid)) for d in group]
    assert wait_for(lambda: not any(d.group == demo.group for d in sb.demos()), 1.0)


def test_zombie_reap_narrates_status(fresh):
    sb, log = fresh
    z = sb.spawn("Z")
    parent = next(d for d in sb.demos() if d.group == z.group and d.role == "parent")
    assert z.role == "child" and z.parent_pid == parent.pid
    assert ps_stat(z.pid) == "Z"
    assert log.has(f"fork() returned {z.pid} in the parent {parent.pid} and 0 in the child")
    assert log.has(f"fork() returned 0 in the child: getpid() = {z.pid}, getppid() = {parent.pid}")
    assert log.has(f"child {z.pid} called os._exit(3)")
    assert log.has(f"the parent did not call wait(): {z.pid} is a zombie (Z); its exit status 3 waits")
    sb.reap(z.pid, z.start_ticks)
    assert wait_for(lambda: log.has(f"wait() reaped {z.pid}: status 768, exit code 3"))
    assert wait_for(lambda: not alive(z.identity))
    assert alive(parent.identity)  # the parent lives on; only the zombie is gone
    assert [d.pid for d in sb.demos()] == [parent.pid]
    with pytest.raises(SandboxRefused):
        sb.reap(z.pid)


def test_zombie_parent_exit_supervisor_adopts_and_reaps(fresh):
    sb, log = fresh
    z = sb.spawn("Z")
    parent = next(d for d in sb.demos() if d.group == z.group and d.role == "parent")
    sb.parent_exit(z.pid)
    sup = sb.supervisor_pid
    assert wait_for(lambda: log.has(f"parent {parent.pid} exited: zombie {z.pid} was adopted by the sandbox "
                                    f"supervisor {sup} (a child subreaper)"))
    assert log.has(f"wait() reaped {z.pid}: status 768, exit code 3")
    assert wait_for(lambda: not alive(z.identity) and not alive(parent.identity))
    assert wait_for(lambda: sb.demos() == [])


def test_orphan_is_adopted_by_the_subreaper(fresh):
    sb, log = fresh
    o = sb.spawn("orphan")
    sup = sb.supervisor_pid
    assert o.parent_pid == sup == ppid_of(o.pid)
    assert wait_for(lambda: log.has(f"{o.pid} is an orphan, adopted by the sandbox supervisor {sup} "
                                    f"(a child subreaper); getppid() now returns {sup}"))
    first = next(t for t in log.texts() if f"getpid() = {o.pid}, getppid() = " in t)
    assert not first.endswith(f"getppid() = {sup}")  # it had another parent before


def test_stop_and_continue(fresh):
    sb, _ = fresh
    d = sb.spawn("S")
    sb.stop(d.pid, d.start_ticks)
    assert wait_for(lambda: ps_stat(d.pid) == "T")
    sb.cont(d.pid, d.start_ticks)
    assert wait_for(lambda: ps_stat(d.pid) == "S")
    t = sb.spawn("T")
    assert wait_for(lambda: ps_stat(t.pid) == "T")
    sb.cont(t.pid)
    assert wait_for(lambda: ps_stat(t.pid) == "S")


def test_signals_only_its_own_demos_by_identity(fresh):
    sb, _log = fresh
    d = sb.spawn("S")
    wait_state(d.pid, "S")  # the demo reports ready, then goes to sleep: judge it once asleep
    with pytest.raises(SandboxRefused, match="not signalled"):
        sb.kill(d.pid, d.start_ticks + 1)  # same pid, another start time: a reused pid
    assert alive(d.identity) and ps_stat(d.pid) == "S"
    victim = subprocess.Popen(["sleep", "30"])  # not a demo: must never be signalled
    try:
        wait_state(victim.pid, "S")  # asleep before the refusals: so S after them means nothing was sent
        for pid in (victim.pid, os.getpid(), 1):
            with pytest.raises(SandboxRefused, match="not a live sandbox demo"):
                sb.kill(pid)
            with pytest.raises(SandboxRefused):
                sb.stop(pid)
        assert victim.poll() is None and ps_stat(victim.pid) == "S"
    finally:
        victim.kill()
        victim.wait()
    sb.kill(d.pid, d.start_ticks)
    assert wait_for(lambda: not alive(d.identity))


def test_identity_check_against_changed_start_time():
    """The supervisor's own check: a record whose start time no longer matches the pid is not signalled."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        ticks = procfs.start_ticks(child.pid)
        assert not signalled(child.pid, ticks + 1, signal.SIGKILL)
        assert child.poll() is None
        assert signalled(child.pid, ticks, signal.SIGKILL)
        assert child.wait(timeout=2) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_cap_and_kill_all():
    log = Log()
    with Sandbox(on_event=log, max_demos=3) as sb:
        try:
            demos = [sb.spawn("S") for _ in range(3)]
            with pytest.raises(SandboxRefused, match="cap is 3"):
                sb.spawn("S")
            with pytest.raises(SandboxRefused, match="cap"):
                sb.spawn("Z")
            sb.kill_all()
            assert wait_for(lambda: not any(alive(d.identity) for d in demos), 2.0)
            assert sb.demos() == []
            assert log.has("kill all")
            again = sb.spawn("S")  # the sandbox keeps working
            assert wait_for(lambda: ps_stat(again.pid) == "S")
        finally:
            _track(sb)


def test_unknown_recipe_and_check():
    sb = Sandbox()
    with pytest.raises(SandboxRefused, match="no such demo"):
        sb.spawn("X")
    assert sb.supervisor_pid is None  # refused before starting anything
    assert Sandbox.check("S") is None
    assert list(Sandbox.RECIPES)[:3] == ["R", "S", "D"]
    for r in Sandbox.RECIPES.values():
        assert r.stat_shown and r.description and r.stat_shown[0] in "RSDTtZ"


def test_close_kills_and_reaps_everything():
    log = Log()
    sb = Sandbox(on_event=log)
    try:
        for key in ("T", "t", "D", "Z", "orphan", "Zl", "+"):
            sb.spawn(key)
        _track(sb)
        ids = [d.identity for d in sb.demos()] + [sb.supervisor_identity]
        sup_pid = sb.supervisor_pid
        descendants = procfs.descendants(sup_pid)
        ids += [(p, procfs.start_ticks(p)) for p in descendants]
        SEEN.update(i for i in ids if i[1] is not None)
    finally:
        sb.close()
    assert not [i for i in ids if i[1] is not None and alive(i)]
    assert sb.supervisor_pid is None and sb.demos() == []
    assert log.has("stopped all demos and exits")
    assert any(e.kind == "exited" for e in log.events)


def test_supervisor_exits_at_its_lifetime():
    log = Log()
    sb = Sandbox(on_event=log, lifetime=1.0)
    try:
        d = sb.spawn("S")
        _track(sb)
        assert wait_for(lambda: sb.supervisor_pid is None, 4.0)
        assert not alive(d.identity)
        assert log.has("maximum lifetime")
    finally:
        sb.close()


def test_no_textual_import():
    code = ("import sys, procwatch.sandbox, procwatch.sandbox.supervisor, procwatch.sandbox.demos;"
            "assert not [m for m in sys.modules if m.startswith('textual')], 'textual imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_a_process_record_crosses_the_pipe_as_an_id_and_its_values():
    """What a demo process is goes over the pipes as a message id and JSON scalars, and is said in the language
    of the moment where it is shown."""
    rec = wire.ProcRecord(41, 7, "exec", "S", "sandbox.proc.exec_run2",
                          {"name": "demo-exec", "seconds": 2.0, "program": "sleep"}, 40)
    line = wire.encode(wire.Ready(1, 41, [rec]))  # a demo -> the supervisor
    assert json.loads(line)["procs"][0] == {"pid": 41, "start": 7, "role": "exec", "stat": "S",
                                            "says": "sandbox.proc.exec_run2", "parent": 40,
                                            "fields": {"name": "demo-exec", "seconds": 2.0, "program": "sleep"}}
    assert wire.decode_report(line) == wire.Ready(1, 41, [rec])
    added = wire.Added(wire.DemoRecord.of(rec, 7, "exec", 1, False))  # the supervisor -> procwatch
    assert wire.decode(wire.encode(added)) == added
    demo = Demo._from_record(added.demo)
    assert demo_fact(demo.says, demo.fields) == "Run 2: it runs as demo-exec for 2 s, then execs sleep: same pid, new name."
    with catalog.using("zh"):
        assert demo_fact(demo.says, demo.fields).startswith("第 2 次运行: 它先以 demo-exec 运行 2 秒")
    assert said_in_both(demo)["en"].startswith("Run 2: ")


def test_an_odd_process_record_is_kept_and_said_neutrally():
    """The supervisor is our child, but its pipe is read with care: a record whose id or values are odd is kept
    (its process stays listed), its values reduced to what a phrase can take, and it is said neutrally."""
    base = {"pid": 41, "start": 7, "recipe": "S", "role": "demo", "stat": "S", "parent": 40, "group": 1, "main": True}
    odd_ids = [5, None, ["sandbox.proc.cow_parent"], "sandbox.title", "sandbox.proc.no_such_phrase", "x" * 500]
    for says in odd_ids:
        msg = wire.decode(json.dumps({"event": "added", "demo": {**base, "says": says, "fields": {}}}))
        demo = Demo._from_record(msg.demo)
        assert demo.says == (says if isinstance(says, str) and len(says) <= wire.MAX_SAYS else "")
        for lang in catalog.LANGUAGES:
            with catalog.using(lang):
                assert demo_fact(demo.says, demo.fields) in ("", catalog.t("sandbox.proc.unknown")), says
    fields = {"a": [1], "b": {"c": 1}, "t": True, "no good": 1, "n": None, "s": "y" * 2000, "f": 1.5, "i": 3}
    for given, kept in [(fields, {"s": "y" * (wire.MAX_TEXT - 1) + "…", "f": 1.5, "i": 3}), ("a=1", {}),
                        ([1, 2], {}), ({f"k{i}": i for i in range(20)}, {f"k{i}": i for i in range(wire.MAX_FIELDS)})]:
        msg = wire.decode(json.dumps({"event": "added", "demo": {**base, "says": "sandbox.proc.cow_parent",
                                                                 "fields": given}}))
        assert msg.demo.fields == kept
        with catalog.using("zh"):
            assert demo_fact(msg.demo.says, msg.demo.fields) == catalog.t("sandbox.proc.unknown")  # no `a`
    assert demo_fact("sandbox.proc.cow_parent", {"a": 1}) == "This is the parent: a is still 1 here."
    with pytest.raises(wire.ProtocolError, match="without 'fields'"):  # a record lacking a key: as any message
        wire.decode(json.dumps({"event": "added", "demo": {**base, "says": ""}}))
