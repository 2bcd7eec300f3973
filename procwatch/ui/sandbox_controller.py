"""The app's side of the sandbox: starts the supervisor lazily on the main thread, sends every request (fork a
demo, reap, stop, ...) from a worker thread so that the UI never waits for the supervisor, and labels demo rows.
Plain monitoring starts no process."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from procwatch.engine import procfs
from procwatch.engine.catalog import t
from procwatch.engine.model import Identity, ProcInfo
from procwatch.engine.words import role_word, sandbox_line
from procwatch.sandbox import RECIPES, Demo, Sandbox, SandboxError, SandboxEvent
from procwatch.ui.messages import SandboxNews
from procwatch.ui.widgets.sandbox_panel import SandboxPanel, recipe_name

if TYPE_CHECKING:
    from procwatch.ui.app import ProcwatchApp


class SandboxController:
    def __init__(self, app: ProcwatchApp, enabled: bool, disabled_because: str = "sandbox.disabled") -> None:
        self.app = app
        self.enabled = enabled
        self.disabled_because = disabled_because  # the message id a sandbox key says when the sandbox is off
        self.sandbox: Sandbox | None = None  # created at the first demo
        self.select_when_seen: int | None = None  # the pid the cursor goes to once the table shows it
        self.following: str | None = None  # the recipe of the last demo asked for: the cursor follows its first process

    @property
    def panel(self) -> SandboxPanel:
        return self.app.query_one(SandboxPanel)

    def sandbox_identity(self) -> Identity | None:
        """The supervisor's identity while it runs."""
        return self.sandbox.supervisor_identity if self.sandbox is not None else None

    def close_panel(self) -> None:
        if self.enabled and self.panel.has_class("open"):
            self.panel.remove_class("open")
            self.app.place_panels()
            self.app.focus_table()

    def stop_following(self) -> None:
        """The cursor stays where the user (or the lesson) puts it: no demo asked for earlier takes it away."""
        self.following = self.select_when_seen = None

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()

    def _refuse_when_disabled(self) -> bool:
        if not self.enabled:
            self.app.say(t(self.disabled_because), severity="warning")
        return not self.enabled

    def toggle_panel(self) -> None:
        if self._refuse_when_disabled():
            return
        panel = self.panel
        panel.toggle_class("open")
        self.app.place_panels()
        if panel.has_class("open"):
            panel.query_one("#recipes").focus()
        else:
            self.app.focus_table()

    def spawn(self, recipe: str, open_panel: bool = False) -> None:
        """Fork a demo through the supervisor. The supervisor is started here, on the main thread (its death
        signal is tied to the thread that starts it); the spawn itself waits in a worker thread, since some
        demos take seconds to get in place (the orphan's parent lingers 2 s so the re-parenting is seen)."""
        if self._refuse_when_disabled():
            return
        if not procfs.proc_is_ours() or not procfs.proc_is_ours(getattr(self.app, "procfs", procfs.PROC)):
            self.app.say(t("note.foreign"), severity="warning", timeout=6)
            return
        if open_panel:
            self.panel.add_class("open")
            self.app.place_panels()
        if self.sandbox is None:
            self.sandbox = Sandbox(on_event=self._forward)
        try:
            self.sandbox.start()
        except SandboxError as refused:
            self.refused(refused)
            return
        self.following = recipe
        self._in_thread(partial(self._spawn, self.sandbox, recipe), t("sandbox.what.demo", recipe=recipe))

    def _in_thread(self, request: Callable[[], None], what: str) -> None:
        """Run a supervisor request in a worker thread: the UI never waits for the supervisor (a stopped one
        would not answer), and a refusal comes back as a notice."""

        def run() -> None:
            try:
                request()
            except SandboxError as refused:
                self.app.call_from_thread(self.refused, refused)
            except Exception as error:  # a worker's error would otherwise vanish silently
                self.app.call_from_thread(self.refused, t("sandbox.failed", what=what, error=repr(error)))
            self.app.poller.refresh_now()

        try:
            self.app.run_worker(run, thread=True, group="sandbox", exit_on_error=False)
        except RuntimeError as error:  # "can't start new thread": RLIMIT_NPROC reached
            self.refused(t("sandbox.no_thread", what=what, error=error))

    def _forward(self, event: SandboxEvent) -> None:
        self.app.post_message(SandboxNews(event))  # from the sandbox's reader thread: thread-safe

    def _spawn(self, sandbox: Sandbox, recipe: str) -> None:
        demo = sandbox.spawn(recipe)
        if self.following == recipe:  # not when the user (or the lesson) has moved on since
            self.select_when_seen, self.following = demo.pid, None

    def refused(self, refused: Exception | str) -> None:
        self.panel.narrate(t("sandbox.refused", reason=refused))
        self.app.say(str(refused), severity="warning", timeout=6)

    def labels(self) -> dict[Identity, str]:
        """Demos are forks of the supervisor and share its command line: label them by what they show. A demo
        that exec'd another program (the exec demo) shows that program's command line, as any process does."""
        if self.sandbox is None:
            return {}
        procs = self.app.last.observations.snapshot.procs if self.app.last is not None else {}
        labels = {demo.identity: t("sandbox.demo_label", recipe=demo.recipe, name=recipe_name(RECIPES[demo.recipe]),
                                   role=role_word(demo.role))
                  for demo in self.sandbox.demos() if not _exec_d(procs.get(demo.pid), demo)}
        if self.sandbox.supervisor_identity is not None:
            labels[self.sandbox.supervisor_identity] = t("sandbox.supervisor_label")
        return labels

    def show(self, procs: dict[int, ProcInfo] | None) -> None:
        if self.sandbox is not None:
            self.panel.show_demos(self.sandbox.demos(), procs)

    def news(self, message: SandboxNews) -> None:
        event = message.event
        if event.story is not None:
            text = sandbox_line(event.story)  # words are made here, at the edge
            self.panel.narrate(text)
            if event.kind == "exited" and not self.panel.has_class("open"):
                self.app.say(t("sandbox.news", text=text), severity="warning", timeout=8)  # else nobody would know
        if event.kind == "added" and event.demo is not None and event.demo.recipe == self.following:
            self.select_when_seen = event.demo.pid  # the cursor goes to the demo's first process once it is shown
            self.following = None
        if event.kind in ("added", "removed", "started", "exited"):
            self.show(self.app.procs())
            self.app.poller.refresh_now()

    def act(self, action: str, demo: Demo | None) -> None:
        """A key of the demo list: an explicit map from the action to the supervisor request."""
        sandbox = self.sandbox
        if sandbox is None:
            return
        if action == "kill_all":
            self._in_thread(sandbox.kill_all, t("sandbox.what.kill_all"))
            return
        if demo is None:
            self.app.say(t("sandbox.select_demo"), severity="warning")
            return
        requests: dict[str, Callable[[int, int | None], None]] = {
            "reap": sandbox.reap, "parent_exit": sandbox.parent_exit, "kill": sandbox.kill,
            "stop_cont": sandbox.cont if self._is_stopped(demo) else sandbox.stop,
        }
        self._in_thread(partial(requests[action], demo.pid, demo.start_ticks),
                        t("sandbox.what.action", recipe=demo.recipe))

    def _is_stopped(self, demo: Demo) -> bool:
        proc = (self.app.procs() or {}).get(demo.pid)
        return proc is not None and proc.start_ticks == demo.start_ticks and proc.state == "T"


def _exec_d(proc: ProcInfo | None, demo: Demo) -> bool:
    """The demo process now runs another program: its name is no longer one the sandbox gave (demo-...)."""
    return (proc is not None and proc.identity == demo.identity and not proc.name.startswith("demo-")
            and not proc.kernel_thread and proc.state != "Z")
