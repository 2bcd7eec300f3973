"""procwatch's side of the sandbox: starts the supervisor lazily and talks to it over two pipes."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from procwatch.engine import procfs, words
from procwatch.engine.stat import format_stat
from procwatch.sandbox import protocol as wire
from procwatch.sandbox.recipes import RECIPES, Recipe, precheck

START_TIMEOUT = 10.0  # a fresh interpreter; normally ~50 ms
SPAWN_TIMEOUT = 7.0  # the supervisor gives up on a demo after 5 s
REPLY_TIMEOUT = 3.0
CLOSE_TIMEOUT = 1.0  # for the supervisor's orderly close (normally a few ms); then it and its demos are killed


class SandboxError(Exception):
    """Base class: the sandbox could not do what was asked."""


class SandboxRefused(SandboxError):
    """A one-line reason for the user: not permitted here, cap reached, not a demo, identity changed..."""


@dataclass(frozen=True)
class Demo:
    """One live demo process. Identity is (pid, start_ticks), like everywhere in procwatch."""

    pid: int
    start_ticks: int  # /proc/PID/stat field 22
    recipe: str  # key into RECIPES
    role: str  # "demo" (a one-process demo), "parent", "child" or "orphan"
    stat_shown: str  # what `ps -o stat=` shows for it, e.g. "Z", "Ss+"
    says: str  # what it is beyond its recipe's description: a catalogue id ("sandbox.proc.…") or "" (nothing)
    parent_pid: int  # its parent when the demo got ready (the orphan: its adopter)
    group: int  # processes of one spawn share a group
    main: bool  # the process the recipe is about (spawn() returns it)
    fields: dict[str, wire.Scalar] = field(default_factory=dict, hash=False)  # the values `says` names

    @property
    def identity(self) -> tuple[int, int]:
        return (self.pid, self.start_ticks)

    @property
    def name(self) -> str:
        return RECIPES[self.recipe].name

    def current_stat(self) -> str | None:
        """Its STAT right now (as ps composes it), or None when this identity is gone."""
        facts = procfs.stat_facts(self.pid)
        if facts is None or procfs.start_ticks(self.pid) != self.start_ticks:  # checked after: facts are its own
            return None
        return format_stat(facts)

    @classmethod
    def _from_record(cls, rec: wire.DemoRecord) -> Demo:
        return cls(pid=rec.pid, start_ticks=rec.start, recipe=rec.recipe, role=rec.role, stat_shown=rec.stat,
                   says=rec.says, parent_pid=rec.parent or 0, group=rec.group, main=rec.main,
                   fields=dict(rec.fields))


@dataclass(frozen=True)
class SandboxEvent:
    """kind: "story" (`story` set: a typed event for the narration, procwatch.sandbox.protocol.STORY; words come
    from procwatch.engine.words.sandbox_line), "added"/"removed" (demo list changed; `demo` set), "started"
    (supervisor up; pid), "exited" (supervisor gone; `story` set, a SupervisorDied, only when it died abnormally).
    Narrate every event with a story."""

    kind: str
    story: wire.Story | None = None
    pid: int | None = None
    demo: Demo | None = None
    time: float = field(default_factory=time.time)


class Sandbox:
    """See the package docstring."""

    RECIPES: dict[str, Recipe] = RECIPES

    def __init__(self, on_event: Callable[[SandboxEvent], None] | None = None, max_demos: int = 64,
                 lifetime: float = 1800.0, python: str | None = None):
        self.on_event = on_event
        self.max_demos = max_demos
        self.lifetime = lifetime
        self.python = python or sys.executable
        self._lock = threading.RLock()
        self._cond = threading.Condition(threading.Lock())
        self._ids = itertools.count(1)
        self._replies: dict[int, wire.Reply] = {}
        self._demos: dict[int, Demo] = {}
        self._proc: subprocess.Popen | None = None
        self._stdin: IO[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._hello: wire.Hello | None = None
        self._gone = True
        self._bye: str | None = None

    # ------------------------------------------------------------------ public API

    @property
    def supervisor_pid(self) -> int | None:
        """The supervisor's pid while it runs; None before the first demo and after it exited."""
        return None if self._gone or self._hello is None else self._hello.pid

    @property
    def supervisor_identity(self) -> tuple[int, int] | None:
        hello = self._hello
        if self._gone or hello is None or hello.start is None:
            return None
        return (hello.pid, hello.start)

    @staticmethod
    def check(recipe: str) -> str | None:
        """Why `recipe` cannot work here (one line), found without starting anything; None if it may."""
        return precheck(recipe)

    def start(self) -> None:
        """Start the supervisor now (spawn() does it on first use). Call from the main thread: the supervisor's
        death signal is tied to the thread that starts it."""
        with self._lock:
            if not self._gone:
                return
            self._start()

    def spawn(self, recipe: str) -> Demo:
        """Start a demo; returns its main process once it is in place. Raises SandboxRefused("reason")."""
        reason = precheck(recipe)
        if reason:
            raise SandboxRefused(reason)
        self.start()
        reply = self._request(wire.Spawn(recipe), SPAWN_TIMEOUT)
        rec = reply.demo
        if rec is None:
            raise SandboxRefused(f"the {recipe} demo did not report its processes")
        demo = Demo._from_record(rec)
        with self._cond:
            self._demos.setdefault(demo.pid, demo)
        return demo

    def demos(self) -> list[Demo]:
        """Live demo processes, in the order they appeared (kept current by the supervisor's events)."""
        with self._cond:
            return list(self._demos.values())

    def reap(self, pid: int, start_ticks: int | None = None) -> None:
        """The zombie's parent calls os.wait() (pid: the zombie or its parent). Narrated: "wait() reaped ..."."""
        self._request(wire.Reap(pid, start_ticks))

    def parent_exit(self, pid: int, start_ticks: int | None = None) -> None:
        """The zombie's parent exits without wait(): the supervisor (a subreaper) adopts the zombie and reaps it."""
        self._request(wire.ParentExit(pid, start_ticks))

    def stop(self, pid: int, start_ticks: int | None = None) -> None:
        self._request(wire.SendSignal("stop", pid, start_ticks))

    def cont(self, pid: int, start_ticks: int | None = None) -> None:
        self._request(wire.SendSignal("cont", pid, start_ticks))

    def kill(self, pid: int, start_ticks: int | None = None) -> None:
        self._request(wire.SendSignal("kill", pid, start_ticks))

    def kill_all(self) -> None:
        if not self._gone:
            self._request(wire.KillAll())

    def close(self) -> None:
        """Stop every demo, reap them, and end the supervisor, within about CLOSE_TIMEOUT whatever state the
        supervisor is in (a stopped or traced one cannot answer: it is killed at once). Safe to call twice;
        spawn() may start afresh."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            frozen = self._supervisor_frozen()
            if not self._gone and frozen is None:
                with contextlib.suppress(SandboxError):
                    self._request(wire.Close(), CLOSE_TIMEOUT)
            if self._stdin is not None:
                with contextlib.suppress(OSError):
                    self._stdin.close()
            try:
                proc.wait(timeout=0 if frozen else CLOSE_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill_everything(proc)
            if self._reader is not None and self._reader is not threading.current_thread():
                self._reader.join(timeout=2)
            self._proc = None

    def _kill_everything(self, proc: subprocess.Popen) -> None:
        """SIGKILL (which also ends stopped and traced processes) the supervisor, then every demo it reported.
        Each demo would die of its death signal anyway; this also covers one adopted elsewhere meanwhile."""
        with self._cond:
            demos = list(self._demos.values())
        proc.kill()  # our own unreaped child: its pid cannot have been reused
        proc.wait()
        for demo in demos:
            with contextlib.suppress(procfs.SignalRefused):  # gone already, or its pid reused: not ours
                procfs.signal_process(demo.identity, signal.SIGKILL)

    def _supervisor_frozen(self) -> str | None:
        """Why the supervisor cannot act (it is stopped or traced), or None."""
        identity = self.supervisor_identity
        facts = procfs.stat_facts(identity[0]) if identity is not None else None
        if identity is None or facts is None or procfs.start_ticks(identity[0]) != identity[1]:
            return None
        if facts.state in ("T", "t"):
            return f"the sandbox supervisor {identity[0]} is {words.state_word(facts.state)} ({facts.state})"
        return None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _start(self) -> None:
        root = str(Path(__file__).resolve().parent.parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        in_main = threading.current_thread() is threading.main_thread()
        cmd = [self.python, "-m", "procwatch.sandbox.supervisor", "--parent", str(os.getpid()),
               "--lifetime", str(self.lifetime), "--max-demos", str(self.max_demos)]
        if in_main:  # PDEATHSIG fires when the creating *thread* ends: only arm it from the main thread
            cmd.append("--pdeathsig")
        log = os.environ.get("PROCWATCH_SANDBOX_LOG") or os.devnull  # the supervisor's stderr: a log, or nowhere
        try:
            stderr = open(log, "ab")  # noqa: SIM115 (closed below, once the child has its own copy)
        except OSError as exc:
            raise SandboxRefused(f"PROCWATCH_SANDBOX_LOG: cannot write to {log!r}: {exc.strerror}") from None
        try:
            with stderr:
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                        start_new_session=True, close_fds=True, cwd="/", env=env)
        except OSError as exc:
            raise SandboxRefused(f"cannot start the sandbox supervisor: {exc}") from exc
        self._proc = proc
        self._stdin = proc.stdin
        self._hello = None
        self._bye = None
        self._gone = False
        with self._cond:
            self._replies.clear()
            self._demos.clear()
        self._reader = threading.Thread(target=self._read, args=(proc,), name="procwatch-sandbox-reader",
                                        daemon=True)
        self._reader.start()
        with self._cond:
            ok = self._cond.wait_for(lambda: self._hello is not None or self._gone, START_TIMEOUT)
        if not ok or self._hello is None:
            proc.kill()
            proc.wait()
            self._gone = True
            raise SandboxRefused("the sandbox supervisor did not start")

    def _request(self, command: wire.Command, timeout: float = REPLY_TIMEOUT) -> wire.Reply:
        with self._lock:
            stdin = self._stdin
            if self._proc is None or stdin is None or self._gone:
                raise SandboxRefused("the sandbox is not running (no demo started yet, or it was closed)")
            frozen = self._supervisor_frozen()
            if frozen is not None:  # it could not answer: say so now rather than after the timeout
                raise SandboxRefused(f"{frozen}: send it CONT (k) to go on")
            req = next(self._ids)
            try:
                stdin.write(wire.encode_command(req, command))
                stdin.flush()
            except (OSError, ValueError) as exc:
                raise SandboxRefused(f"the sandbox supervisor is gone ({exc})") from exc
        with self._cond:
            done = self._cond.wait_for(lambda: req in self._replies or self._gone, timeout)
            reply = self._replies.pop(req, None)
        if reply is None:
            raise SandboxRefused("the sandbox supervisor exited" if done else
                                 f"the sandbox supervisor did not answer within {timeout:g} s")
        if not reply.ok:
            raise SandboxRefused(reply.error or "refused")
        return reply

    def _emit(self, event: SandboxEvent) -> None:
        if self.on_event is not None:
            with contextlib.suppress(Exception):  # a UI bug must not kill the reader
                self.on_event(event)

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None  # started with stdout=PIPE
        for line in proc.stdout:
            try:
                msg = wire.decode(line)
            except wire.ProtocolError:
                continue
            if isinstance(msg, wire.Reply):
                if msg.reply is not None:
                    with self._cond:
                        self._replies[msg.reply] = msg
                        self._cond.notify_all()
            elif isinstance(msg, wire.Hello):
                with self._cond:
                    self._hello = msg
                    self._cond.notify_all()
                self._emit(SandboxEvent("started", pid=msg.pid))
            elif isinstance(msg, wire.STORY_TYPES):
                self._emit(SandboxEvent("story", msg))
            elif isinstance(msg, wire.Added):
                demo = Demo._from_record(msg.demo)
                with self._cond:
                    self._demos[demo.pid] = demo
                self._emit(SandboxEvent("added", pid=demo.pid, demo=demo))
            elif isinstance(msg, wire.Removed):
                with self._cond:
                    removed = self._demos.get(msg.pid)
                    if removed is not None and removed.start_ticks == msg.start:
                        del self._demos[msg.pid]
                    else:
                        removed = None
                if removed is not None:
                    self._emit(SandboxEvent("removed", pid=removed.pid, demo=removed))
            elif isinstance(msg, wire.Bye):
                self._bye = msg.reason or "closed"
        # EOF: the supervisor exited (or closed its stdout, which it only does by exiting).
        try:
            status = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait()
        pid = self._hello.pid if self._hello else proc.pid
        with self._cond:
            self._gone = True
            gone = list(self._demos.values())
            self._demos.clear()
            self._cond.notify_all()
        for demo in gone:
            self._emit(SandboxEvent("removed", pid=demo.pid, demo=demo))
        died = wire.SupervisorDied(pid, status) if self._bye is None else None
        self._emit(SandboxEvent("exited", died, pid))
