"""The sandbox supervisor: one process per procwatch, parent (or adopter) of every demo.

Run as `python -m procwatch.sandbox.supervisor --parent PID --lifetime SECONDS --max-demos N [--pdeathsig]`
with stdin and stdout as pipes to procwatch, in its own session (the client starts it that way).

Single-threaded on purpose: demos are forked from it, and the D demo needs a single-threaded process.

Safety:
- PR_SET_CHILD_SUBREAPER: orphaned demos are adopted here, not by init, and reaped here.
- Shuts down, killing (SIGKILL, which also ends stopped and traced processes) and reaping its whole subtree, on:
  EOF on stdin (procwatch died, however: even SIGKILL closes the pipe), the `close` command, SIGTERM/SIGHUP/SIGINT,
  and its maximum lifetime. PR_SET_PDEATHSIG(SIGKILL) ends it when procwatch's creating thread dies, even when it
  is stopped or traced (it cannot act then); the demos' own death signals then end them.
- Signals only its own demos: a demo's identity is (pid, start time); every signal goes through a pidfd after
  the start time was checked against the record.

The wire format (commands, replies, events, demo reports) is defined in procwatch.sandbox.protocol.
"""

from __future__ import annotations

import argparse
import os
import selectors
import signal
import time
from dataclasses import dataclass

from procwatch.engine import procfs, words
from procwatch.sandbox import demos, tutorial  # noqa: F401 (tutorial: loaded once here, for every forked demo)
from procwatch.sandbox import linux as _sys
from procwatch.sandbox import protocol as wire
from procwatch.sandbox.recipes import RECIPES, precheck

SPAWN_TIMEOUT = 5.0  # the orphan demo alone takes 2 s on purpose
ZOMBIE_RECIPES = ("Z", "zombies")  # demos whose parent can be asked to wait() (reap) or to exit (parent_exit)
ACTION_SIGNALS = {"stop": signal.SIGSTOP, "cont": signal.SIGCONT, "kill": signal.SIGKILL}


class Refused(Exception):
    pass


@dataclass
class Group:
    """The processes of one spawn: the supervisor's child that runs the recipe, and the pending reply."""

    root: int
    root_start: int | None
    recipe: str
    req: int | None  # the spawn command to answer once the demo is ready; None once answered
    deadline: float  # time.monotonic() by which it must be ready


class Supervisor:
    def __init__(self, parent: int, lifetime: float, max_demos: int, pdeathsig: bool):
        self.pid = os.getpid()
        self.start = procfs.start_ticks(self.pid)
        self.parent = parent
        self.deadline = time.time() + lifetime
        self.lifetime = lifetime
        self.max_demos = max_demos
        self.records: dict[int, wire.DemoRecord] = {}  # pid -> record, live demo processes
        self.killed: set[int] = set()  # pids the supervisor itself sent SIGKILL (not a safety net's doing)
        self.groups: dict[int, Group] = {}
        self.next_group = 1
        self.quiet = False
        self.stop_reason: tuple[str, str] | None = None  # (SupervisorStopping.reason, detail)
        self.inbuf = b""
        self.repbuf = b""
        self.devnull = os.open(os.devnull, os.O_RDWR)

        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGALRM):
            signal.signal(sig, self._on_stop_signal)

        _sys.set_name("pw-sandbox")
        _sys.prctl(_sys.PR_SET_CHILD_SUBREAPER, 1)
        if pdeathsig:
            _sys.set_death_signal(signal.SIGKILL, parent)  # KILL: it also ends a stopped or traced supervisor
        signal.alarm(int(lifetime) + 5)  # backstop; the loop normally ends at the deadline first
        self.rep_r, self.rep_w = os.pipe2(os.O_CLOEXEC)
        # The lifeline: demos keep the read end; only the supervisor holds the write end, so it reads EOF as soon
        # as the supervisor is gone, however. It is what ends an orphan adopted outside the sandbox.
        self.life_r, self.life_w = os.pipe2(os.O_CLOEXEC)
        self.outside: dict[int, int] = {}  # pid -> pidfd of demos adopted outside our subtree (init-orphan)
        os.set_blocking(self.rep_r, False)
        os.set_blocking(0, False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(0, selectors.EVENT_READ, "cmd")
        self.sel.register(self.rep_r, selectors.EVENT_READ, "report")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")

    # ------------------------------------------------------------------ output

    def emit(self, message: wire.ToProcwatch) -> None:
        data = wire.encode(message)
        try:
            while data:
                n = os.write(1, data)
                data = data[n:]
        except OSError:
            self.stop("stdout")

    def reply(self, req: int | None, error: str | None = None, demo: wire.DemoRecord | None = None) -> None:
        self.emit(wire.Reply(req, error is None, demo, error))

    def tell(self, story: wire.Story) -> None:
        """A story event for the narration (not while killing everything: that is told once)."""
        if not self.quiet:
            self.emit(story)

    def stop(self, reason: str, detail: str = "") -> None:
        """Ask the main loop to end (the first reason wins); it is told as SupervisorStopping."""
        if self.stop_reason is None:
            self.stop_reason = (reason, detail)

    def _on_stop_signal(self, signum, _frame) -> None:
        if signum == signal.SIGALRM:
            self.stop("lifetime", f"{self.lifetime:g}")
        else:
            self.stop("signal", signal.Signals(signum).name)

    # ------------------------------------------------------------------ main loop

    def run(self) -> None:
        self.emit(wire.Hello(self.pid, self.start))
        self.tell(wire.SupervisorStarted(self.pid))
        while self.stop_reason is None:
            timeout = self.deadline - time.time()
            for g in self.groups.values():
                if g.req is not None:
                    timeout = min(timeout, g.deadline - time.monotonic() + 0.01)
            if timeout <= 0 and time.time() >= self.deadline:
                self.stop("lifetime", f"{self.lifetime:g}")
                break
            events = self.sel.select(max(0.0, min(timeout, 5.0)))
            for key, _ in events:
                if isinstance(key.data, tuple):  # a demo outside our subtree ended (its pidfd is readable)
                    self.drop(key.data[1])
                elif key.data == "wake":
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
            self.read_reports()  # before reaping: a demo's last words arrive before its exit is seen
            self.reap_children()
            self.expire_pending()
            if any(key.data == "cmd" for key, _ in events):
                self.read_commands()
        self.shutdown(self.stop_reason or ("error", "stopped"))

    def read_commands(self) -> None:
        try:
            chunk = os.read(0, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.stop("pipe")
            return
        lines, self.inbuf = wire.split_lines(self.inbuf + chunk)
        for line in lines:
            try:
                req, cmd = wire.decode_command(line)
            except wire.ProtocolError as exc:
                self.reply(exc.request, error=str(exc))
                continue
            self.handle(req, cmd)

    def read_reports(self) -> None:
        while True:
            try:
                chunk = os.read(self.rep_r, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.repbuf += chunk
        lines, self.repbuf = wire.split_lines(self.repbuf)
        for line in lines:
            try:
                report = wire.decode_report(line)
            except wire.ProtocolError:
                continue
            self.on_report(report)

    # ------------------------------------------------------------------ commands

    def handle(self, req: int | None, cmd: wire.Command) -> None:
        try:
            if isinstance(cmd, wire.Spawn):
                self.spawn(cmd.recipe, req)  # replies when the demo is ready
                return
            if isinstance(cmd, wire.Close):
                self.reply(req)
                self.stop("close")
                return
            if isinstance(cmd, wire.SendSignal):
                self.signal_demo(cmd.action, cmd.pid, cmd.start)
            elif isinstance(cmd, (wire.Reap, wire.ParentExit)):
                self.zombie_action(isinstance(cmd, wire.Reap), cmd.pid, cmd.start)
            elif isinstance(cmd, wire.KillAll):
                self.kill_all()
            self.reply(req)
        except Refused as exc:
            self.reply(req, error=str(exc))
        except Exception as exc:  # report, keep supervising
            self.reply(req, error=f"sandbox error: {type(exc).__name__}: {exc}")

    def spawn(self, key: str, req: int | None) -> None:
        if key not in RECIPES:
            raise Refused(precheck(key) or f"no such demo: {key!r}")
        reason = precheck(key, privileges=False)  # privileges: the demo tries and reports the real error
        if reason:
            raise Refused(reason)
        need = RECIPES[key].processes
        self.prune()
        if len(self.records) + need > self.max_demos:
            raise Refused(f"the sandbox already runs {len(self.records)} demo processes (the cap is "
                          f"{self.max_demos}): kill some first")
        group = self.next_group
        self.next_group += 1
        ctx = demos.Ctx(key, group, self.rep_w, self.pid, self.deadline, self.devnull, self.life_r)
        pid = os.fork()
        if pid == 0:
            try:
                low = 3
                for keep in sorted((self.devnull, self.rep_w, self.life_r)):
                    os.closerange(low, keep)
                    low = keep + 1
                os.closerange(low, 1 << 16)
            finally:
                demos.run(ctx)  # never returns
        self.groups[group] = Group(pid, procfs.start_ticks(pid), key, req, time.monotonic() + SPAWN_TIMEOUT)

    def _record_for(self, pid: int, start: int | None) -> wire.DemoRecord:
        rec = self.records.get(pid)
        if rec is None:
            raise Refused(f"{pid} is not a live sandbox demo: not signalled")
        if start is not None and int(start) != rec.start:
            raise Refused(f"{pid} is not the demo that started at tick {start} (the pid was reused): not signalled")
        return rec

    def _signal(self, rec: wire.DemoRecord, sig: int) -> None:
        try:
            procfs.signal_process((rec.pid, rec.start), sig)
        except procfs.SignalRefused as refused:
            if refused.reason in ("gone", "reused"):
                self.drop(rec.pid)
                raise Refused(f"{rec.pid} is no longer the demo that started at tick {rec.start} "
                              f"(it exited, or its pid was reused): not signalled") from None
            raise Refused(words.signal_refused(refused, str(rec.pid))) from None

    def signal_demo(self, action: str, pid: int, start: int | None) -> None:
        if action not in ACTION_SIGNALS:
            raise Refused(f"unknown action {action!r}")
        rec = self._record_for(pid, start)
        sig = ACTION_SIGNALS[action]
        facts = procfs.stat_facts(pid)
        zombie = facts is not None and facts.state == "Z" and facts.threads <= 1  # Zl: threads still run
        if sig == signal.SIGKILL:
            self.killed.add(pid)
        self._signal(rec, sig)
        self.tell(wire.SignalSent(self.pid, pid, sig.name, rec.recipe, zombie and action == "kill"))

    def zombie_action(self, reap: bool, pid: int, start: int | None) -> None:
        """reap: the zombie's parent calls wait() (SIGUSR1); otherwise it exits (SIGUSR2)."""
        rec = self._record_for(pid, start)
        if rec.recipe not in ZOMBIE_RECIPES:
            raise Refused(f"{pid} is not part of a zombie demo: reap and parent-exit work on the "
                          f"{' and '.join(ZOMBIE_RECIPES)} demos")
        if rec.role == "parent":
            parent = rec
            kids = [r for r in self.records.values() if r.group == rec.group and r.role == "child"]
            if reap and not kids:
                raise Refused(f"parent {pid} has already reaped its child")
        else:
            found = self.records.get(rec.parent) if rec.parent is not None else None
            if found is None or found.group != rec.group:
                raise Refused(f"zombie {pid} has no sandbox parent any more (its parent exited)")
            parent = found
        self._signal(parent, signal.SIGUSR1 if reap else signal.SIGUSR2)

    def kill_all(self) -> None:
        count = len(self.records)
        self.tell(wire.KilledAll(count, False))
        self.quiet = True
        try:
            self.kill_subtree()
        finally:
            self.quiet = False
        for g in list(self.groups):
            self.fail_pending(g, "the demo was killed before it was ready")
        self.groups.clear()
        self.tell(wire.KilledAll(count, True))

    # ------------------------------------------------------------------ reports from demos

    def on_report(self, report: wire.Report) -> None:
        if not isinstance(report, (wire.Ready, wire.Refused, wire.Gone, wire.LetOrphanGo)):
            self.tell(report)  # a demo's story: forwarded as it is
            return
        group = self.groups.get(report.g)
        if isinstance(report, wire.Ready) and group is not None:
            main = None
            for proc in report.procs:
                if proc.start is None:
                    continue
                rec = wire.DemoRecord.of(proc, proc.start, group.recipe, report.g, proc.pid == report.main)
                self.records[rec.pid] = rec
                self.watch_if_outside(rec)
                self.emit(wire.Added(rec))
                if rec.main:
                    main = rec
            if group.req is not None:
                self.reply(group.req, demo=main)
                group.req = None
        elif isinstance(report, wire.Refused) and group is not None:
            self.fail_pending(report.g, report.reason)
            self.kill_group(report.g)
        elif isinstance(report, wire.Gone):
            self.drop(report.pid)
        elif isinstance(report, wire.LetOrphanGo) and group is not None:
            self.let_orphan_go(report.middle, report.orphan)

    def let_orphan_go(self, middle: int, orphan: int) -> None:
        """The init-orphan demo: clear PR_SET_CHILD_SUBREAPER while its middle process exits, so that the kernel
        gives the orphan to the next subreaper above us or to init; set it again at once. Orphans of other demos
        in that window (a few ms) also go above: their death signals end them, and init reaps them."""
        middle_start = procfs.start_ticks(middle)
        orphan_start = procfs.start_ticks(orphan)
        fields = procfs.stat_fields(middle)
        if middle_start is None or orphan_start is None or not fields or int(fields[1]) != self.pid:
            return  # not our child any more: nothing to do (the demo refuses by itself)
        _sys.prctl(_sys.PR_SET_CHILD_SUBREAPER, 0)
        self.tell(wire.SubreaperFlag(self.pid, False, middle))
        try:
            procfs.signal_process((middle, middle_start), signal.SIGUSR1)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                fields = procfs.stat_fields(orphan)
                if not fields or int(fields[19]) != orphan_start or int(fields[1]) != middle:
                    break
                time.sleep(0.001)
        except procfs.SignalRefused:
            pass
        finally:
            _sys.prctl(_sys.PR_SET_CHILD_SUBREAPER, 1)
            self.tell(wire.SubreaperFlag(self.pid, True, middle))

    def fail_pending(self, g: int, reason: str) -> None:
        group = self.groups.get(g)
        if group and group.req is not None:
            self.reply(group.req, error=reason)
            group.req = None

    def expire_pending(self) -> None:
        now = time.monotonic()
        for g, group in list(self.groups.items()):
            if group.req is not None and now > group.deadline:
                self.fail_pending(g, f"the {group.recipe} demo did not get ready within {SPAWN_TIMEOUT:g} s")
                self.kill_group(g)

    def _kill(self, pid: int, start: int | None) -> None:
        """SIGKILL one process of ours by identity; one that is gone (or whose pid was reused) is left alone."""
        if start is None:
            return
        self.killed.add(pid)
        try:
            procfs.signal_process((pid, start), signal.SIGKILL)
        except procfs.SignalRefused:
            pass

    def kill_group(self, g: int) -> None:
        """SIGKILL a demo's processes: its root (our child) and its recorded processes; the rest follow by their
        death signal."""
        group = self.groups.get(g)
        if group:
            self._kill(group.root, group.root_start)
        for rec in [r for r in self.records.values() if r.group == g]:
            self._kill(rec.pid, rec.start)

    def watch_if_outside(self, rec: wire.DemoRecord) -> None:
        """A demo adopted outside our subtree (by init) is not ours to reap: watch its end through a pidfd."""
        if rec.parent is None or rec.parent == self.pid or rec.parent in self.records:
            return
        if rec.parent in {g.root for g in self.groups.values()} or rec.pid in procfs.descendants(self.pid):
            return
        try:
            fd = os.pidfd_open(rec.pid)
        except OSError:
            return
        if procfs.start_ticks(rec.pid) != rec.start:  # it ended (and its pid was reused) before the pidfd
            os.close(fd)
            return
        self.outside[rec.pid] = fd
        self.sel.register(fd, selectors.EVENT_READ, ("outside", rec.pid))

    def drop(self, pid: int) -> None:
        fd = self.outside.pop(pid, None)
        if fd is not None:
            self.sel.unregister(fd)
            os.close(fd)
        rec = self.records.pop(pid, None)
        if rec is not None:
            self.emit(wire.Removed(pid, rec.start))

    def prune(self) -> None:
        for pid, rec in list(self.records.items()):
            if procfs.start_ticks(pid) != rec.start:
                self.drop(pid)

    # ------------------------------------------------------------------ reaping

    def reap_children(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.on_reaped(pid, status)

    def on_reaped(self, pid: int, status: int) -> None:
        rec = self.records.get(pid)
        root_of = next((g for g, grp in self.groups.items() if grp.root == pid), None)
        if root_of is not None and status != 0:  # the orphan's parent exits with 0 by design, before "ready"
            grp = self.groups[root_of]
            said = words.wait_status_long(status)
            self.fail_pending(root_of, f"the {grp.recipe} demo ended before it was ready ({said})")
        killed_by_us = pid in self.killed
        self.killed.discard(pid)
        if rec is None:
            if root_of is not None:
                self.tell_safety_net(pid, status, None, killed_by_us)
                self.tell(wire.SupervisorReaped(self.pid, pid, status, "root", self.groups[root_of].recipe))
            self.drop_group_if_empty(root_of)
            return
        adopted = rec.parent is not None and rec.parent != self.pid
        self.tell_safety_net(pid, status, rec.parent if adopted else None, killed_by_us)
        self.tell(wire.SupervisorReaped(self.pid, pid, status, rec.role, rec.recipe,
                                        rec.parent if adopted else None, rec.stat == "Z"))
        self.drop(pid)
        self.drop_group_if_empty(rec.group)

    def tell_safety_net(self, pid: int, status: int, lost_parent: int | None, killed_by_us: bool) -> None:
        """A demo killed by its self-destruct alarm, or by its death signal when its parent died: say which net
        acted (these deaths would otherwise contradict "processes are independent")."""
        if not os.WIFSIGNALED(status):
            return
        sig = os.WTERMSIG(status)
        if sig == signal.SIGALRM:
            self.tell(wire.SafetyNet("timer", pid))
        elif sig == signal.SIGKILL and lost_parent is not None and not killed_by_us:
            self.tell(wire.SafetyNet("pdeathsig", pid, lost_parent))

    def drop_group_if_empty(self, g: int | None) -> None:
        if g is None or g not in self.groups:
            return
        if self.groups[g].req is None and not any(r.group == g for r in self.records.values()):
            self.groups.pop(g, None)

    def kill_subtree(self, budget: float = 3.0) -> None:
        """SIGKILL every descendant (stopped and traced ones too), then reap until none is left. Our descendants
        are all demos; each is pinned by a pidfd and re-checked to still be in our subtree before the signal."""
        deadline = time.monotonic() + budget
        while True:
            kids = procfs.children_map()
            tree = {self.pid}
            todo = [self.pid]
            while todo:
                for child in kids.get(todo.pop(), ()):
                    if child not in tree:
                        tree.add(child)
                        todo.append(child)
            tree.discard(self.pid)
            for pid in tree:
                try:
                    fd = os.pidfd_open(pid)
                except OSError:
                    continue
                try:
                    fields = procfs.stat_fields(pid)
                    if fields and int(fields[1]) in tree | {self.pid}:
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
                except OSError:
                    pass
                finally:
                    os.close(fd)
            self.read_reports()
            self.reap_children()
            if not tree:
                try:
                    os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        for pid, rec in list(self.records.items()):
            if pid in self.outside:  # adopted by init: not in our subtree, killed by identity
                self._kill(pid, rec.start)
            self.drop(pid)

    def shutdown(self, reason: tuple[str, str]) -> None:
        self.quiet = True
        self.kill_subtree()
        self.quiet = False
        self.tell(wire.SupervisorStopping(self.pid, *reason))
        self.emit(wire.Bye(reason[0]))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m procwatch.sandbox.supervisor")
    ap.add_argument("--parent", type=int, required=True)
    ap.add_argument("--lifetime", type=float, default=1800.0)
    ap.add_argument("--max-demos", type=int, default=64)
    ap.add_argument("--pdeathsig", action="store_true")
    args = ap.parse_args(argv)
    sup = Supervisor(args.parent, args.lifetime, args.max_demos, args.pdeathsig)
    if os.getppid() != args.parent:  # procwatch died while we started
        sup.stop("early")
    try:
        sup.run()
    except BaseException as exc:  # whatever happens, take the demos down with us
        try:
            sup.kill_subtree()
        finally:
            if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
    os._exit(0)


if __name__ == "__main__":
    main()
