"""The Textual app. `make_app()` is the one factory shared by the CLI, the tests and the screenshot script."""

from __future__ import annotations

import gc
import signal
import sys
from collections import Counter
from dataclasses import replace
from functools import partial

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape
from textual.message import Message
from textual.widgets import Footer

from procwatch.engine import words
from procwatch.engine.procfs import SignalRefused, signal_process
from procwatch.engine.collector import Collector
from procwatch.view.collectors import make_collector
from procwatch.view.poller import Poller, Update, View
from procwatch.engine.stat import STATE_LETTERS
from procwatch.engine.words import STATE_WORDS
from procwatch.engine.escape import printable
from procwatch.engine.tree import ProcessFilter, children_map
from procwatch.ui.widgets.panels import DetailsPanel, FilterBar, SummaryBar, details_text, summary_text
from procwatch.ui.widgets.process_table import ProcessTable
from procwatch.ui.widgets.sandbox_panel import SandboxPanel
from procwatch.ui.widgets.screens import HelpScreen, JumpScreen, PickerScreen, SignalScreen, state_choices

INTERVALS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class SnapshotReady(Message):
    def __init__(self, update: Update) -> None:
        super().__init__()
        self.update = update


class SweepFailed(Message):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


class SandboxNews(Message):
    """A sandbox event, forwarded from its reader thread."""

    def __init__(self, event) -> None:
        super().__init__()
        self.event = event


class ProcwatchCommands(Provider):
    """Command palette: jump to a PID, filter by a user or a state present now, pause, sort."""

    def _commands(self) -> list[tuple[str, object, str]]:
        app: ProcwatchApp = self.app  # type: ignore[assignment]
        commands = [
            ("Jump to PID…", app.action_jump, "move the cursor to a process by its PID"),
            ("Pause / resume refresh", app.action_pause, "stop or restart the sweeps"),
            ("Clear filters", app.action_clear_filters, "show every process"),
            ("Show / hide kernel threads", app.action_toggle_kernel, "kernel threads are children of kthreadd"),
        ]
        for key in ("pid", "cpu", "mem", "name"):
            commands.append((f"Sort by {key}", partial(app.set_sort, key), "siblings are sorted, the tree stays"))
        users = Counter(p.user for p in app.last.observations.snapshot) if app.last else Counter()
        for user, count in sorted(users.items()):
            commands.append((f"Filter by user {printable(user)}", partial(app.set_users, frozenset([user])),
                             f"{count} processes"))
        for letter in STATE_LETTERS:
            commands.append((f"Filter by state {letter} ({STATE_WORDS[letter].split(' (')[0]})",
                             partial(app.set_states, frozenset(letter)), "processes in this state"))
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(Content(name), callback, text=name, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                # highlight() parses markup: escape it, user names are untrusted
                yield Hit(score, matcher.highlight(escape(name)), callback, text=name, help=help_text)


class ProcwatchApp(App[int]):
    TITLE = "procwatch"
    COMMANDS = App.COMMANDS | {ProcwatchCommands}
    CSS = """
    Screen { layout: vertical; }
    ProcessTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("slash", "filter_text", "Filter", id="app.filter"),
        Binding("u", "pick_user", "User", id="app.user"),
        Binding("s", "pick_state", "State", id="app.state"),
        Binding("escape", "clear_filters", "Clear", show=False, id="app.clear"),
        Binding("space", "pause", "Pause", id="app.pause"),
        Binding("k", "signal", "Signal", id="app.signal"),
        Binding("d", "toggle_details", "Details", show=False, id="app.details"),
        Binding("plus", "expand_all", "Expand all", show=False, id="app.expand_all"),
        Binding("minus", "collapse_all", "Collapse all", show=False, id="app.collapse_all"),
        Binding("N", "sort('pid')", "Sort PID", show=False, id="app.sort_pid"),
        Binding("P", "sort('cpu')", "Sort CPU", show=False, id="app.sort_cpu"),
        Binding("M", "sort('mem')", "Sort memory", show=False, id="app.sort_mem"),
        Binding("K", "toggle_kernel", "Kernel threads", show=False, id="app.kernel"),
        Binding("less_than_sign", "interval(-1)", "Faster", show=False, id="app.faster"),
        Binding("greater_than_sign", "interval(1)", "Slower", show=False, id="app.slower"),
        Binding("g", "jump", "Go to PID", show=False, id="app.jump"),
        Binding("z", "spawn_demo('Z')", "Zombie demo", id="app.demo_zombie"),
        Binding("o", "spawn_demo('orphan')", "Orphan demo", id="app.demo_orphan"),
        Binding("b", "toggle_sandbox", "Sandbox", id="app.sandbox"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.interrupt"),
    ]
    HELP_KEYS = [
        ("↑ ↓ PgUp PgDn", "move the cursor (it stays on its process across refreshes)"),
        ("Enter / click", "fold or unfold the subtree (click on the tree guide, or double-click)"),
        ("← →", "collapse / expand; ← on a leaf goes to the parent"),
        ("+ / -", "expand all / collapse all"),
        ("shift+← →", "scroll long command lines sideways (or the mouse wheel with shift)"),
        ("/", "filter by text (name, command line or pid), live"),
        ("u / s", "filter by user / by state letter"),
        ("Esc", "clear all filters"),
        ("K", "show or hide kernel threads"),
        ("N / P / M", "sort siblings by PID / CPU / memory"),
        ("space", "pause or resume the refresh"),
        ("< / >", "refresh faster / slower"),
        ("k", "send a signal to the selected process (asks first)"),
        ("d", "show or hide the details panel"),
        ("g", "jump to a PID"),
        ("ctrl+p", "command palette: jump, filter by user/state, sort, themes"),
        ("z / o", "fork a demo zombie / a demo orphan (opens the sandbox panel)"),
        ("b", "open or close the sandbox panel; Tab moves into it"),
        ("Enter (sandbox)", "fork the highlighted demo: R S D T t Z orphan N < L s l + Zl"),
        ("w p c x X", "in the demo list: wait() for a zombie, its parent exits, stop/continue, kill, kill all"),
        ("?", "this help"),
        ("q", "quit"),
    ]

    def __init__(self, collector: Collector, view: View, interval: float, theme: str | None = None,
                 sandbox: bool = True) -> None:
        super().__init__()
        self.sandbox_enabled = sandbox
        self.sandbox = None  # created at the first demo: plain monitoring starts no process
        self._select_when_seen: int | None = None
        self.collector = collector
        self.interval = interval
        self.view = view
        self.initial_theme = theme
        self.last: Update | None = None
        self.poller = Poller(collector, self._from_poller, interval, view, on_error=self._poller_error)

    def compose(self) -> ComposeResult:
        yield SummaryBar("starting…", id="summary")
        yield FilterBar(id="filter-bar")
        yield ProcessTable(id="table")
        yield DetailsPanel(id="details")
        if self.sandbox_enabled:
            yield SandboxPanel(id="sandbox")
        yield Footer()

    def on_mount(self) -> None:
        if self.initial_theme:
            self.theme = self.initial_theme
        self.query_one(FilterBar).show_filter(self.view.process_filter, self.view.hide_kernel)
        self.query_one(ProcessTable).focus()
        self.poller.start()

    def on_unmount(self) -> None:
        gc.unfreeze()  # hand back what on_snapshot_ready froze (matters where apps come and go: the tests)
        self.poller.stop()
        if self.sandbox is not None:
            self.sandbox.close()

    def say(self, message: str, **kwargs) -> None:
        """A notification whose text is never parsed as markup: it often holds process names."""
        self.notify(message, markup=False, **kwargs)

    # -- data from the poller thread ------------------------------------------------------------------------
    def _from_poller(self, update: Update) -> None:
        self.post_message(SnapshotReady(update))  # thread-safe

    def _poller_error(self, error: BaseException) -> None:
        self.post_message(SweepFailed(error))  # thread-safe, and never blocks the poller (unlike call_from_thread)

    def on_sweep_failed(self, message: SweepFailed) -> None:
        self.say(f"sweep failed: {message.error!r}", severity="error")

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        update = message.update
        if update.view != self.view and not update.swept:
            return  # built for a view the user has already changed again
        first = self.last is None
        self.last = update
        with self.batch_update():
            table = self.query_one(ProcessTable)
            table.empty_message = (f"no process matches {printable(update.view.process_filter.describe())}"
                                   if update.view.process_filter.active else "no process visible")
            table.show(update.rows, update.observations, update.facts)
            if self._select_when_seen is not None and table.select_pid(self._select_when_seen):
                self._select_when_seen = None
            if self.sandbox is not None:
                demos = self.sandbox.demos()
                self.query_one(SandboxPanel).show_demos(demos, update.observations.snapshot.procs)
                table.labels = self._sandbox_labels(demos)
            self.query_one(SummaryBar).show(summary_text(update, self.poller.paused, self.interval))
        if first:
            # Move everything alive now (Textual's widgets, styles, caches: ~100k objects) out of the cyclic GC's
            # reach. Measured at 10,000 processes: full collections 52 -> 15-26 ms, the largest UI stall 57 -> 18-30
            # ms. Refcounting still frees these objects; only cyclic garbage among them would stay.
            gc.freeze()

    @on(ProcessTable.CursorMoved)
    def _show_details(self, message: ProcessTable.CursorMoved) -> None:
        details = self.query_one(DetailsPanel)
        if details.display:
            details.show_process(message.proc, self.last.observations if self.last else None)

    @on(ProcessTable.SelectedExited)
    def _selected_exited(self, message: ProcessTable.SelectedExited) -> None:
        gone = message.gone
        where = f"; cursor moved to {message.now.pid} ({printable(message.now.name)})" if message.now else ""
        self.say(f"process {gone.pid} ({printable(gone.name)}) exited{where}", timeout=4)

    @on(ProcessTable.ToggleRequested)
    def _toggle(self, message: ProcessTable.ToggleRequested) -> None:
        collapsed = set(self.view.collapsed)
        collapse = message.collapse if message.collapse is not None else message.identity not in collapsed
        (collapsed.add if collapse else collapsed.discard)(message.identity)
        self._set_view(replace(self.view, collapsed=frozenset(collapsed)))

    # -- view changes ---------------------------------------------------------------------------------------
    def _set_view(self, view: View) -> None:
        self.view = view
        self.query_one(FilterBar).show_filter(view.process_filter, view.hide_kernel)
        self.poller.set_view(view)

    def set_filter(self, process_filter: ProcessFilter) -> None:
        self._set_view(replace(self.view, process_filter=process_filter))

    def set_users(self, users: frozenset[str]) -> None:
        self.set_filter(replace(self.view.process_filter, users=users))

    def set_states(self, states: frozenset[str]) -> None:
        self.set_filter(replace(self.view.process_filter, states=states))

    def set_sort(self, key: str) -> None:
        self._set_view(replace(self.view, sort=key))
        self.say(f"siblings sorted by {key}", timeout=2)

    def action_sort(self, key: str) -> None:
        self.set_sort(key)

    def action_filter_text(self) -> None:
        self.query_one(FilterBar).edit(self.view.process_filter.text)

    @on(FilterBar.TextChanged)
    def _filter_typed(self, message: FilterBar.TextChanged) -> None:
        self.set_filter(replace(self.view.process_filter, text=message.text))

    @on(FilterBar.Done)
    def _filter_done(self, message: FilterBar.Done) -> None:
        if message.cleared:
            self.set_filter(replace(self.view.process_filter, text=""))
        self.query_one(ProcessTable).focus()

    def action_clear_filters(self) -> None:
        if self.view.process_filter.active:
            self.set_filter(ProcessFilter())

    def action_pick_user(self) -> None:
        counts = Counter(p.user for p in self.last.observations.snapshot) if self.last else Counter()
        choices = [(user, f"{printable(user)} ({count})") for user, count in sorted(counts.items())]
        self.push_screen(PickerScreen("Filter by user", choices),
                         lambda user: None if user is None else self.set_users(frozenset([user]) if user else frozenset()))

    def action_pick_state(self) -> None:
        counts = Counter(p.state for p in self.last.observations.snapshot) if self.last else Counter()
        self.push_screen(PickerScreen("Filter by state", state_choices(counts)),
                         lambda letter: None if letter is None else self.set_states(frozenset(letter)))

    def action_toggle_kernel(self) -> None:
        self._set_view(replace(self.view, hide_kernel=not self.view.hide_kernel))

    def action_expand_all(self) -> None:
        self._set_view(replace(self.view, collapsed=frozenset()))

    def action_collapse_all(self) -> None:
        if self.last is None:
            return
        procs = self.last.observations.snapshot.procs
        _, children = children_map(procs)
        self._set_view(replace(self.view, collapsed=frozenset(procs[pid].identity for pid in children)))

    # -- refresh --------------------------------------------------------------------------------------------
    def action_pause(self) -> None:
        self.poller.paused = not self.poller.paused
        if not self.poller.paused:
            self.poller.refresh_now()
        if self.last:
            self.query_one(SummaryBar).show(summary_text(self.last, self.poller.paused, self.interval))

    def action_interval(self, step: int) -> None:
        index = min(range(len(INTERVALS)), key=lambda i: abs(INTERVALS[i] - self.interval))
        self.interval = INTERVALS[max(0, min(len(INTERVALS) - 1, index + step))]
        self.poller.interval = self.interval
        self.say(f"refresh every {self.interval:g}s", timeout=2)

    # -- panels and dialogs ---------------------------------------------------------------------------------
    def action_toggle_details(self) -> None:
        details = self.query_one(DetailsPanel)
        details.display = not details.display
        if details.display:
            table = self.query_one(ProcessTable)
            details.show_process(table.selected, self.last.observations if self.last else None)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.HELP_KEYS))

    def action_jump(self) -> None:
        self.push_screen(JumpScreen(), self.jump_to)

    def jump_to(self, pid: int | None) -> None:
        if pid is None:
            return
        if not self.query_one(ProcessTable).select_pid(pid):
            self.say(f"no process {pid} in the current view", severity="warning")

    def action_signal(self) -> None:
        proc = self.query_one(ProcessTable).selected
        if proc is not None:
            self.push_screen(SignalScreen(proc), partial(self._send_signal, proc))

    def _send_signal(self, proc, name: str | None) -> None:
        if name is None:
            return
        who = words.process_label(proc.pid, proc.name)
        try:
            signal_process(proc.identity, getattr(signal, f"SIG{name}"))
        except SignalRefused as refused:
            self.say(words.signal_refused(refused, who), severity="error", timeout=6)
            return
        self.say(words.signal_sent(name, who))
        self.poller.refresh_now()

    # -- sandbox --------------------------------------------------------------------------------------------
    def action_toggle_sandbox(self) -> None:
        if not self.sandbox_enabled:
            self.say("the sandbox is disabled (--no-sandbox)", severity="warning")
            return
        panel = self.query_one(SandboxPanel)
        panel.toggle_class("open")
        if panel.has_class("open"):
            panel.query_one("#recipes").focus()
        else:
            self.query_one(ProcessTable).focus()

    def action_spawn_demo(self, recipe: str) -> None:
        if not self.sandbox_enabled:
            self.say("the sandbox is disabled (--no-sandbox)", severity="warning")
            return
        panel = self.query_one(SandboxPanel)
        if not panel.has_class("open"):
            panel.add_class("open")
        self.spawn_demo(recipe)

    @on(SandboxPanel.SpawnRequested)
    def _spawn_requested(self, message: SandboxPanel.SpawnRequested) -> None:
        self.spawn_demo(message.recipe)

    def spawn_demo(self, recipe: str) -> None:
        """Fork a demo through the supervisor. The supervisor is started here, on the main thread (its death
        signal is tied to the thread that starts it); the spawn itself waits in a worker thread, since some
        demos take seconds to get in place (the orphan's parent lingers 2 s so the re-parenting is seen)."""
        from procwatch.sandbox import Sandbox, SandboxError

        if self.sandbox is None:
            self.sandbox = Sandbox(on_event=lambda event: self.post_message(SandboxNews(event)))
        try:
            self.sandbox.start()
        except SandboxError as refused:
            self._sandbox_refused(refused)
            return
        self.run_worker(partial(self._spawn_in_thread, recipe), thread=True, group="sandbox", exit_on_error=False)

    def _spawn_in_thread(self, recipe: str) -> None:
        from procwatch.sandbox import SandboxError

        try:
            demo = self.sandbox.spawn(recipe)
        except SandboxError as refused:
            self.call_from_thread(self._sandbox_refused, refused)
            return
        except Exception as error:  # noqa: BLE001 - a worker's error would otherwise vanish silently
            self.call_from_thread(self._sandbox_refused, f"the {recipe} demo failed: {error!r}")
            return
        self._select_when_seen = demo.pid
        self.poller.refresh_now()

    def _sandbox_refused(self, refused: Exception | str) -> None:
        self.query_one(SandboxPanel).narrate(f"refused: {refused}")
        self.say(str(refused), severity="warning", timeout=6)

    def _sandbox_labels(self, demos) -> dict:
        """Demos are forks of the supervisor and share its command line: label them by what they show."""
        labels = {demo.identity: f"demo-{demo.recipe} · {demo.name} demo, {demo.role} (sandbox)" for demo in demos}
        if self.sandbox.supervisor_identity is not None:
            labels[self.sandbox.supervisor_identity] = "pw-sandbox · the sandbox supervisor, a child subreaper"
        return labels

    def on_sandbox_news(self, message: SandboxNews) -> None:
        event = message.event
        panel = self.query_one(SandboxPanel)
        if event.text:
            panel.narrate(event.text)
        if event.kind in ("added", "removed", "started", "exited"):
            procs = self.last.observations.snapshot.procs if self.last else None
            panel.show_demos(self.sandbox.demos() if self.sandbox else [], procs)
            self.poller.refresh_now()

    @on(SandboxPanel.DemoAction)
    def _demo_action(self, message: SandboxPanel.DemoAction) -> None:
        from procwatch.sandbox import SandboxError

        sandbox, demo = self.sandbox, message.demo
        if sandbox is None:
            return
        try:
            if message.action == "kill_all":
                sandbox.kill_all()
            elif demo is None:
                self.say("select a demo in the list first", severity="warning")
                return
            elif message.action == "stop_cont":
                proc = self.last.observations.snapshot.get(demo.pid) if self.last else None
                stopped = proc is not None and proc.identity == demo.identity and proc.state == "T"
                (sandbox.cont if stopped else sandbox.stop)(demo.pid, demo.start_ticks)
            else:
                getattr(sandbox, message.action)(demo.pid, demo.start_ticks)
        except SandboxError as refused:
            self._sandbox_refused(refused)
        self.poller.refresh_now()


def make_app(collector: Collector | None = None, process_filter: ProcessFilter = ProcessFilter(),
             interval: float = 1.0, sort: str = "pid", theme: str | None = None, sandbox: bool = True) -> ProcwatchApp:
    view = View(process_filter=process_filter, sort=sort)
    return ProcwatchApp(collector or make_collector(), view, interval, theme, sandbox)


class _ExitOnSignals:
    """SIGTERM and SIGHUP end the app the normal way, so the terminal is restored and the sandbox cleaned up
    (Python's default action would kill the process with the terminal still in the alternate screen)."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __init__(self, app: ProcwatchApp) -> None:
        self.app = app

    def __enter__(self) -> None:
        self.previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signo: int, frame) -> None:
        self.app.call_later(self.app.exit, 128 + signo) if self.app.is_running else None


def run_app(process_filter: ProcessFilter, interval: float, sort: str, theme: str | None, sandbox: bool) -> int:
    app = make_app(process_filter=process_filter, interval=interval, sort=sort, theme=theme, sandbox=sandbox)
    if theme is not None and theme not in app.available_themes:
        names = ", ".join(sorted(app.available_themes))
        print(f"procwatch: --theme: unknown theme {theme!r}; choose from {names} (see procwatch --help)",
              file=sys.stderr)
        return 2
    with _ExitOnSignals(app):
        result = app.run()
    return result or 0
