"""The tutorial's lessons in real processes, table-driven: each demo's processes show the STAT `ps` prints, and
its story events arrive with the right values. All demos run together in one sandbox (the slow ones, a 2 s
linger, a 3 s child, 4 s of busy loops, then overlap); each one's STAT is read as soon as it is in place, and each
row of the table is then checked on what was recorded.

Every identity the sandbox reports is tracked and must be gone at the end (killed by identity if not, then fail).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from support.polling import poll
from support.procs import alive, ppid_of, running, signalled, state_of
from support.ps import ps_field, ps_stat

from procwatch.engine import catalog, procfs
from procwatch.engine.words import SANDBOX_PHRASES, demo_fact, sandbox_line
from procwatch.sandbox import RECIPES, Sandbox, SandboxEvent
from procwatch.sandbox import protocol as wire
from procwatch.sandbox.recipes import BUSY_CPUS, LESSON_KEYS, ZOMBIES

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux only")

SEEN: set[tuple[int, int]] = set()
PID_FIELDS = {"pid", "getpid", "returned", "waiter", "parent", "child", "middle", "grandchild", "reader", "sender",
              "target", "old_parent", "tracer", "other", "adopted_from", "demo"}  # fields that name a process


@dataclass
class Row:
    """One demo: the STAT of each role (every process of that role), the story events it must tell, and a check
    of the values."""

    stats: dict[str, str]
    events: tuple[str, ...]
    check: Callable[[Lesson], None] | None = None
    wchan: dict[str, str] = field(default_factory=dict)


@dataclass
class Lesson:
    key: str
    demos: list  # its Demo records when it got ready
    stats: dict[int, str]  # pid -> STAT by ps, once the expected one was seen (or the last one read)
    wchans: dict[int, str]
    stories: list = field(default_factory=list)  # its story events, filled in by `events_of`

    def of(self, kind: str) -> list:
        return [s for s in self.stories if type(s).__name__ == kind]

    def role(self, role: str) -> list:
        return [d for d in self.demos if d.role == role]


def check_cow(lesson: Lesson) -> None:
    seen = lesson.of("VariableSeen")
    child = lesson.role("child")[0].pid
    parent = lesson.role("parent")[0].pid
    assert {(s.pid, s.value) for s in seen} == {(child, 1), (child, 10000), (parent, 1)}
    assert len({s.address for s in seen}) == 1  # one virtual address, two contents
    before, after = sorted(lesson.of("MemoryShared"), key=lambda m: m.moment != "before")
    copied = after.private_kb - before.private_kb
    assert copied >= 0.9 * after.written_kb, (before, after)  # the written pages were copied for the child
    assert before.shared_kb - after.shared_kb >= 0.9 * after.written_kb


def check_exits(lesson: Lesson) -> None:
    codes = [(c.call, c.arg, os.waitstatus_to_exitcode(w.status))
             for c, w in zip(lesson.of("ExitCalled"), lesson.of("WaitReturned"), strict=False)]
    assert codes == [("os._exit", 3, 3), ("sys.exit", 3, 3), ("sys.exit", "退出", 1), ("sys.exit", None, 0),
                     ("os._exit", 256, 0), ("sys.exit", 0, 0), ("os._exit", 0, 0)], codes
    outputs = [(o.stream, o.text) for o in lesson.of("OutputRead")]
    assert outputs == [("stderr", "退出"), ("stdout", "hello, buffered"), ("stdout", "")], outputs
    assert [c.arg for c in lesson.of("ExitCaught")] == ["退出"]


def check_wait(lesson: Lesson) -> None:
    parent, child = lesson.role("parent")[0].pid, lesson.role("child")[0].pid
    (done,) = lesson.of("WaitReturned")
    assert (done.waiter, done.pid, done.status, done.call) == (parent, child, 512, "os.wait")
    assert sandbox_line(done).startswith(f"os.wait() returned ({child}, 512)")


def check_first(lesson: Lesson) -> None:
    races = lesson.of("RanFirst")
    assert [r.n for r in races] == [1, 2, 3, 4, 5]
    assert all(r.parent_ns > 0 and r.child_ns > 0 for r in races)


def check_forkfail(lesson: Lesson) -> None:
    (failed,) = lesson.of("ForkFailed")
    assert (failed.error, failed.errno, failed.limit) == ("BlockingIOError", "EAGAIN", 1)
    assert failed.uid != 0 and failed.user_procs >= 1


def check_exec(lesson: Lesson) -> None:
    runs = [lesson.role("child")[0].pid, lesson.role("exec")[0].pid]
    assert poll(lambda: [ps_field(pid, "comm") for pid in runs] == ["sleep", "sleep"], 5.0)  # one program, 2 PIDs
    assert all(alive(d.identity) for d in lesson.role("exec"))  # same pid and start time after exec
    assert [e.pid for e in lesson.of("Exec")] == runs


def check_nozombie(lesson: Lesson) -> None:
    assert [h.how for h in lesson.of("HandlerSet")] == ["handler", "ignore"]
    assert [(w.errno, w.why) for w in lesson.of("WaitFailed")] == [("ECHILD", "sig_ign")]
    assert any(w.by == "handler" for w in lesson.of("WaitReturned"))
    (orphan,) = lesson.role("orphan")
    (adopted,) = lesson.of("Adopted")
    assert adopted.pid == orphan.pid and adopted.by == "supervisor"
    parent = lesson.role("parent")[0].pid
    assert not [p for p in procfs.children_map().get(parent, ()) if state_of(p) == "Z"]  # no zombie left


def check_cores(lesson: Lesson) -> None:
    busy = lesson.of("Busy")
    assert [(b.processes, b.cpus) for b in busy][:1] == [(BUSY_CPUS, BUSY_CPUS)]
    shares = lesson.of("CpuShare")
    assert shares and all(s.on_cpu_ns > 0 and s.cpu >= 0 for s in shares[:BUSY_CPUS])


def check_init_orphan(lesson: Lesson) -> None:
    (orphan,) = lesson.role("orphan")
    (adopted,) = lesson.of("Adopted")
    assert adopted.by in ("init", "subreaper") and adopted.adopter == orphan.parent_pid
    if adopted.by == "init":
        assert adopted.adopter == 1
    else:  # a child subreaper above procwatch: one of this test's ancestors
        assert adopted.adopter in ancestors(os.getpid())
    assert [f.on for f in lesson.of("SubreaperFlag")] == [False, True]


def ancestors(pid: int) -> set[int]:
    found = set()
    while pid > 1:
        pid = ppid_of(pid) or 0
        found.add(pid)
    return found


TABLE: dict[str, Row] = {
    "cow": Row({"parent": "S", "child": "S"}, ("ForkReturned", "VariableSeen", "MemoryShared"), check_cow),
    "exits": Row({"parent": "S", "child": "S"}, ("ExitCalled", "WaitReturned", "OutputRead", "ExitCaught"),
                 check_exits),
    "wait": Row({"parent": "S", "child": "S"}, ("ForkReturned", "WaitCalled", "ExitCalled", "WaitReturned"),
                check_wait, wchan={"parent": "do_wait"}),
    "zombies": Row({"parent": "S", "child": "Z"}, ("ZombieCost",)),
    "nozombie": Row({"parent": "S", "orphan": "S"}, ("HandlerSet", "WaitReturned", "WaitFailed", "DoubleFork",
                                                    "Adopted"), check_nozombie),
    "first": Row({"parent": "S"}, ("RanFirst",), check_first),
    "forkfail": Row({"demo": "S"}, ("ForkFailed",), check_forkfail),
    "exec": Row({"parent": "S", "child": "S", "exec": "S"}, ("ForkReturned", "Exec"), check_exec),
    "cores": Row({"parent": "S", "child": "R"}, ("Busy", "CpuShare"), check_cores),
    "init-orphan": Row({"orphan": "S"}, ("ForkReturned", "ParentLingers", "ExitCalled", "SubreaperFlag",
                                         "Adopted"), check_init_orphan),
}


def test_the_table_covers_every_lesson():
    assert set(TABLE) == set(LESSON_KEYS)
    for key in LESSON_KEYS:
        recipe = RECIPES[key]
        lines = recipe.snippet.splitlines()
        assert recipe.branches and all(1 <= n <= len(lines) for _, ns in recipe.branches for n in ns), key
        assert set(TABLE[key].stats) <= {role for role, _ in recipe.branches}, key  # every live role has its lines


def test_every_story_event_has_a_phrase():
    assert set(SANDBOX_PHRASES) == set(wire.STORY)
    for kind, cls in wire.STORY.items():
        assert cls.__name__ == kind


SAMPLE = {"int": 7, "float": 1.5, "str": "x", "bool": True}


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("flag", [True, False])
def test_every_story_event_is_said_in_both_languages(lang, flag):
    """Every event class, with sample values (each bool both ways), makes a whole line in each language: every
    phrase id exists in the catalogue and every field it names is given."""
    from procwatch.engine import catalog
    from procwatch.engine.words import sandbox_line

    with catalog.using(lang):
        for cls in wire.STORY.values():
            values = {}
            for name, kind in cls.__annotations__.items():
                base = getattr(kind, "__forward_arg__", kind).split("|")[0].strip()
                values[name] = flag if base == "bool" else SAMPLE.get(base, 3)
            line = sandbox_line(cls(**values))
            assert line and not line.startswith(cls.__name__) and "{" not in line, (cls.__name__, line)


class Log:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stories: list = []

    def __call__(self, event: SandboxEvent) -> None:
        with self.lock:
            if event.story is not None:
                self.stories.append(event.story)
            if event.demo is not None:
                SEEN.add(event.demo.identity)

    def all(self) -> list:
        with self.lock:
            return list(self.stories)


def events_of(lesson: Lesson, stories: list, supervisor: int) -> list:
    """The story events about a demo: those naming one of its processes, closed over the processes they name
    (a child the parent reaped before the demo got ready is named beside its parent)."""
    pids = {d.pid for d in lesson.demos}
    noise = {0, 1, supervisor}
    while True:
        linked = [s for s in stories if pids & names(s)]
        grown = pids | {p for s in linked for p in names(s)} - noise
        if grown == pids:
            return linked
        pids = grown


def names(story) -> set[int]:
    return {v for k, v in story._asdict().items() if k in PID_FIELDS and isinstance(v, int)}


@pytest.fixture(scope="module")
def lessons():
    log = Log()
    sb = Sandbox(on_event=log)
    try:
        result = {}
        for key in LESSON_KEYS:  # each one's STAT is read as soon as it is in place: some change within seconds
            main = sb.spawn(key)
            SEEN.add(sb.supervisor_identity)
            group = [d for d in sb.demos() if d.group == main.group]
            SEEN.update(d.identity for d in group)
            row = TABLE[key]

            def settled(group=group, row=row) -> dict[int, str]:
                stats = {d.pid: ps_stat(d.pid) for d in group}
                return stats if all(stats[d.pid] == row.stats[d.role] for d in group) else {}

            stats = poll(settled, 3.0) or {d.pid: ps_stat(d.pid) for d in group}
            wchans = {d.pid: procfs.read_wchan(d.pid) for d in group}
            result[key] = Lesson(key, group, stats, wchans)
        yield sb, log, result
    finally:
        sb.close()


@pytest.mark.parametrize("key", list(TABLE))
def test_lesson(lessons, key):
    sb, log, found = lessons
    lesson, row = found[key], TABLE[key]
    assert {d.role for d in lesson.demos} == set(row.stats), lesson.demos
    for demo in lesson.demos:
        assert lesson.stats[demo.pid] == row.stats[demo.role], (demo.role, demo.pid, lesson.stats)
        assert demo.stat_shown == row.stats[demo.role]
        if demo.role in row.wchan:
            assert lesson.wchans[demo.pid] == row.wchan[demo.role]
        assert demo.parent_pid != os.getpid()  # never a child of procwatch
        said = {}  # what each lesson process is: its own phrase of the catalogue, with its values, in each language
        for lang in catalog.LANGUAGES:
            with catalog.using(lang):
                said[lang] = demo_fact(demo.says, demo.fields)
                assert said[lang] and said[lang] != catalog.t("sandbox.proc.unknown"), (demo, lang)
        assert said["en"] != said["zh"] and re.search("[\u4e00-\u9fff]", said["zh"]), said
    if key == "zombies":
        assert len(lesson.role("child")) == ZOMBIES

    def told() -> bool:
        lesson.stories = events_of(lesson, log.all(), sb.supervisor_pid)
        kinds = {type(s).__name__ for s in lesson.stories}
        return set(row.events) <= kinds and (row.check is None or _passes(row.check, lesson))

    poll(told, 6.0)
    assert set(row.events) <= {type(s).__name__ for s in lesson.stories}, [type(s).__name__ for s in lesson.stories]
    if row.check is not None:
        row.check(lesson)
    for story in lesson.stories:  # every event reads as one line of English
        line = sandbox_line(story)
        assert line and "\n" not in line and not line.startswith(type(story).__name__)
    if key == "cores":  # its busy children would burn every CPU for seconds more: end them with their parent
        parent = lesson.role("parent")[0]
        sb.kill(parent.pid, parent.start_ticks)
        assert poll(lambda: not any(alive(d.identity) for d in lesson.demos), 2.0)


def _passes(check: Callable[[Lesson], None], lesson: Lesson) -> bool:
    try:
        check(lesson)
    except AssertionError:
        return False
    return True


def test_zombies_are_reaped_by_a_wait_loop(lessons):
    sb, log, found = lessons
    lesson = found["zombies"]
    parent = lesson.role("parent")[0]
    zombies = lesson.role("child")
    sb.reap(parent.pid, parent.start_ticks)
    assert poll(lambda: not any(alive(z.identity) for z in zombies), 3.0)
    assert alive(parent.identity) and ps_stat(parent.pid) == "S"

    def reaped() -> list:
        lesson.stories = events_of(lesson, log.all(), sb.supervisor_pid)
        return lesson.of("WaitFailed")

    assert poll(reaped, 3.0)
    waits = lesson.of("WaitReturned")
    assert sorted(os.waitstatus_to_exitcode(w.status) for w in waits) == list(range(ZOMBIES))
    assert {w.pid for w in waits} == {z.pid for z in zombies} and all(w.call == "os.wait" for w in waits)


@pytest.mark.parametrize("signo", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_the_vfork_wait_in_d_is_killable(lessons, signo):
    """The D demo's parent waits in TASK_KILLABLE: SIGKILL, and SIGTERM (default action: terminate), end it at
    once, although ps shows D."""
    sb, _, _ = lessons
    demo = sb.spawn("D")
    group = [d for d in sb.demos() if d.group == demo.group]
    SEEN.update(d.identity for d in group)
    assert poll(lambda: ps_stat(demo.pid) == "D", 3.0)
    started = time.monotonic()
    assert signalled(demo.pid, demo.start_ticks, signo)
    assert poll(lambda: state_of(demo.pid) in (None, "Z") or not alive(demo.identity), 0.5, 0.002)
    took = time.monotonic() - started
    assert took < 0.5, took
    assert poll(lambda: not any(alive(d.identity) for d in group), 2.0)  # its child follows (death signal)


@pytest.fixture(scope="module", autouse=True)
def nothing_left_behind():
    """Nothing runs once the sandbox is closed. The orphan adopted by init is killed at close, and left a zombie
    for init to reap on its own schedule (this machine's PID 1 takes about a second, more under load)."""
    yield
    ids = [i for i in SEEN if i]
    poll(lambda: not any(running(i) for i in ids), 1.0)
    left = [i for i in ids if running(i)]
    for pid, ticks in left:
        signalled(pid, ticks, signal.SIGKILL)
    assert not left, f"sandbox processes left running: {left}"
    assert poll(lambda: not any(alive(i) for i in ids), 15.0), [i for i in ids if alive(i)]


def test_the_panel_shows_each_snippet_with_the_lines_of_each_role():
    from procwatch.ui.widgets.sandbox_panel import snippet_text

    recipe = RECIPES["wait"]
    text = snippet_text(recipe, "child")
    lines = text.plain.splitlines()
    assert lines[0].startswith("P parent · C child")
    code = lines[1:]
    assert len(code) == len(recipe.snippet.splitlines())
    assert code[3] == " C │     time.sleep(3)"  # the child's branch only
    assert code[6].startswith("P  │     pid, status = os.wait()")  # the parent's branch only
    assert code[1].startswith("PC │ pid = os.fork()")  # fork returns in both
    bold = {text.plain[span.start:span.end].split("│ ", 1)[-1].strip() for span in text.spans if span.style == "bold"}
    assert "os._exit(2)" in bold and not any("os.wait()" in b for b in bold)


def test_safety_nets_are_narrated_when_they_act(lessons):
    """A demo that dies with its parent (its death signal) or by its self-destruct timer is told so: such deaths
    would otherwise contradict "processes are independent"."""
    sb, log, _ = lessons
    cow = sb.spawn("cow")
    child = next(d for d in sb.demos() if d.group == cow.group and d.role == "child")
    sleeper = sb.spawn("S")
    SEEN.update({cow.identity, child.identity, sleeper.identity})
    assert signalled(cow.pid, cow.start_ticks, signal.SIGKILL)  # the parent dies: its child's death signal fires
    assert signalled(sleeper.pid, sleeper.start_ticks, signal.SIGALRM)  # as its alarm would

    def nets() -> set:
        return {(s.net, s.pid, s.parent) for s in log.all() if isinstance(s, wire.SafetyNet)}

    assert poll(lambda: {("pdeathsig", child.pid, cow.pid), ("timer", sleeper.pid, None)} <= nets(), 3.0), nets()
    lines = [sandbox_line(s) for s in log.all() if isinstance(s, wire.SafetyNet)]
    assert any(f"{child.pid} died with its parent {cow.pid}" in line for line in lines), lines
    assert any(f"{sleeper.pid} ended by its self-destruct timer" in line for line in lines), lines


def test_every_story_event_crosses_the_pipe_intact():
    samples = {int: 7, str: "退出", bool: True, float: 1.5}
    for cls in wire.STORY.values():
        hints = typing.get_type_hints(cls)
        values = {name: samples[typing.get_args(kind)[0] if typing.get_args(kind) else kind]
                  for name, kind in hints.items()}
        event = cls(**values)
        line = wire.encode(event)
        assert line.endswith(b"\n") and len(line) <= wire.MAX_LINE
        assert wire.decode(line) == event == wire.decode_report(line)  # from a demo, and forwarded to procwatch
    long = wire.OutputRead(1, 2, "stdout", "x" * 10_000)  # a child's output is clipped to fit one line
    assert len(wire.decode(wire.encode(long)).text) == wire.MAX_TEXT


def test_zombies_whose_parent_exits_are_adopted_and_reaped_by_the_subreaper(lessons):
    sb, log, _ = lessons
    parent = sb.spawn("zombies")
    zombies = [d for d in sb.demos() if d.group == parent.group and d.role == "child"]
    SEEN.update({parent.identity, *(z.identity for z in zombies)})
    sb.parent_exit(parent.pid, parent.start_ticks)
    assert poll(lambda: not any(alive(d.identity) for d in (parent, *zombies)), 3.0)

    def reaped() -> set:
        return {s.pid for s in log.all() if isinstance(s, wire.SupervisorReaped) and s.was_zombie
                and s.adopted_from == parent.pid}

    assert poll(lambda: reaped() == {z.pid for z in zombies}, 3.0), reaped()


def test_the_orphan_adopted_by_init_is_still_the_sandbox_s_to_kill(lessons):
    """Outside the supervisor's subtree, the orphan is killed by identity (pidfd), and its end is noticed through
    a pidfd although init, not the supervisor, reaps it."""
    sb, _, _ = lessons
    (orphan,) = [d for d in sb.demos() if d.recipe == "init-orphan"]
    assert ppid_of(orphan.pid) not in {sb.supervisor_pid, None}
    sb.kill(orphan.pid, orphan.start_ticks)
    assert poll(lambda: not running(orphan.identity), 1.0)
    assert poll(lambda: orphan not in sb.demos(), 2.0)
