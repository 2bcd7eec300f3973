"""The Textual app: compose, lifecycle, snapshots to widgets, view actions and dialogs.
`make_app()` is the one factory shared by the CLI, the tests and the screenshot script."""

from __future__ import annotations

import gc
import os
import signal
from collections import Counter
from dataclasses import replace
from functools import partial
from typing import Any

from textual import events, on
from textual.app import App, ComposeResult

from procwatch.engine import words
from procwatch.engine.collector import Collector
from procwatch.engine.escape import printable
from procwatch.engine.model import INTERVAL_STEPS, ProcInfo
from procwatch.engine.procfs import SignalRefused, identity_of, signal_process
from procwatch.engine.tree import ProcessFilter, children_map
from procwatch.sandbox import Sandbox
from procwatch.ui.keys import APP_KEYS, bindings
from procwatch.ui.memory import Memory
from procwatch.ui.messages import SandboxNews, SnapshotReady, SweepFailed
from procwatch.ui.palette import ProcwatchCommands
from procwatch.ui.sandbox_controller import SandboxController
from procwatch.ui.widgets.footer import LeanFooter
from procwatch.ui.widgets.panels import DetailsPanel, FilterBar, SummaryBar, summary_text
from procwatch.ui.widgets.process_table import ProcessTable
from procwatch.ui.widgets.sandbox_panel import SandboxPanel
from procwatch.ui.widgets.screens import HelpScreen, JumpScreen, PickerScreen, SignalScreen, state_choices
from procwatch.view.collectors import make_collector
from procwatch.view.poller import Poller, Update, View

DETAILS_MIN_HEIGHT = 16  # rows of screen below which the details panel would leave the table no rows


class ProcwatchApp(App[int]):
    TITLE = "procwatch"
    COMMANDS = App.COMMANDS | {ProcwatchCommands}
    CSS = """
    Screen { layout: vertical; }
    ProcessTable { height: 1fr; }
    """
    BINDINGS = bindings(APP_KEYS)

    def __init__(self, collector: Collector, view: View, interval: float, theme: str | None = None,
                 sandbox: bool = True, readonly: bool = False, keymap: dict[str, str] | None = None,
                 memory: Memory | None = None) -> None:
        super().__init__()
        self.readonly = readonly  # no signal, no sandbox: said by the keys that would act, shown in the summary
        self.sandbox_controller = SandboxController(
            self, sandbox and not readonly, words.READONLY_SANDBOX if readonly else words.SANDBOX_OFF)
        self.keymap = keymap or {}
        self.memory = memory or Memory()
        self.memory_notice: str | None = None
        self.details_wanted = True
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
        if self.sandbox_controller.enabled:
            yield SandboxPanel(id="sandbox")
        yield LeanFooter()

    def on_mount(self) -> None:
        if self.initial_theme:
            self.theme = self.initial_theme
        if self.keymap:
            self.set_keymap(self.keymap)
        self.memory.start(self)
        self._show_filter()
        self.query_one(ProcessTable).focus()
        self._place_details()
        self.poller.start()

    def on_unmount(self) -> None:
        gc.unfreeze()  # hand back what on_snapshot_ready froze (matters where apps come and go: the tests)
        self.memory_notice = self.memory.save(self)
        self.poller.stop()
        self.sandbox_controller.close()

    def _shutting_down(self) -> bool:
        """True once shutdown began: the widgets are going or gone, so messages still queued are dropped (and
        the poller is stopped, so no more come)."""
        if self.is_running:
            return False
        self.poller.stop()
        return True

    @property
    def sandbox(self) -> Sandbox | None:
        """The sandbox, once the first demo started it."""
        return self.sandbox_controller.sandbox

    def focus_table(self) -> None:
        self.query_one(ProcessTable).focus()

    def procs(self) -> dict[int, ProcInfo] | None:
        return dict(self.last.observations.snapshot.procs) if self.last else None

    def say(self, message: str, **kwargs: Any) -> None:
        """A notification whose text is never parsed as markup: it often holds process names."""
        self.notify(message, markup=False, **kwargs)

    # -- data from the poller thread ------------------------------------------------------------------------
    def _from_poller(self, update: Update) -> None:
        self.post_message(SnapshotReady(update))  # thread-safe

    def _poller_error(self, error: BaseException) -> None:
        self.post_message(SweepFailed(error))  # thread-safe, and never blocks the poller (unlike call_from_thread)

    def on_sweep_failed(self, message: SweepFailed) -> None:
        if self._shutting_down():
            return
        self.say(f"sweep failed: {message.error!r}", severity="error")

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        update = message.update
        if self._shutting_down():
            return
        if update.view != self.view and not update.swept:
            return  # built for a view the user has already changed again
        previous, self.last = self.last, update
        first = previous is None
        notes_changed = previous is None or update.observations.snapshot.notes != previous.observations.snapshot.notes
        if notes_changed:
            self._show_filter()
        with self.batch_update():
            table = self.query_one(ProcessTable)
            table.empty_message = (f"no process matches {printable(update.view.process_filter.describe())}"
                                   if update.view.process_filter.active else "no process visible")
            table.show(update.rows, update.observations, update.facts)
            wanted = self.sandbox_controller.select_when_seen
            if wanted is not None and table.select_pid(wanted):
                self.sandbox_controller.select_when_seen = None
            if self.sandbox is not None:
                self.sandbox_controller.show(dict(update.observations.snapshot.procs))
                table.labels = self.sandbox_controller.labels()
            self.query_one(SummaryBar).show(summary_text(update, self.poller.paused, self.interval, self.readonly))
        if first:
            self.memory.restore_collapsed(self, dict(update.observations.snapshot.procs))
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
        self._show_filter()
        self.poller.set_view(view)

    def _show_filter(self) -> None:
        notes = self.last.observations.snapshot.notes if self.last else ()
        self.query_one(FilterBar).show_filter(self.view.process_filter, self.view.hide_kernel, notes)

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
            self.query_one(SummaryBar).show(summary_text(self.last, self.poller.paused, self.interval, self.readonly))

    def action_interval(self, step: int) -> None:
        index = min(range(len(INTERVAL_STEPS)), key=lambda i: abs(INTERVAL_STEPS[i] - self.interval))
        self.interval = INTERVAL_STEPS[max(0, min(len(INTERVAL_STEPS) - 1, index + step))]
        self.poller.interval = self.interval
        self.say(f"refresh every {self.interval:g}s", timeout=2)

    # -- panels and dialogs ---------------------------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self._place_details(event.size.height)

    def _place_details(self, height: int | None = None) -> None:
        """The details panel shows when asked for and when the screen leaves the table room for rows."""
        details = self.query_one(DetailsPanel)
        height = self.size.height if height is None else height
        details.display = self.details_wanted and height >= DETAILS_MIN_HEIGHT

    def action_toggle_details(self) -> None:
        self.details_wanted = not self.details_wanted
        self._place_details()
        details = self.query_one(DetailsPanel)
        if details.display:
            table = self.query_one(ProcessTable)
            details.show_process(table.selected, self.last.observations if self.last else None)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_jump(self) -> None:
        self.push_screen(JumpScreen(), self.jump_to)

    def jump_to(self, pid: int | None) -> None:
        if pid is None:
            return
        if not self.query_one(ProcessTable).select_pid(pid):
            self.say(f"no process {pid} in the current view", severity="warning")

    def action_signal(self) -> None:
        if self.readonly:
            self.say(words.READONLY_SIGNAL, severity="warning")
            return
        proc = self.query_one(ProcessTable).selected
        if proc is not None:
            self.push_screen(SignalScreen(proc, self._signal_warnings(proc)), partial(self._send_signal, proc))

    def _signal_warnings(self, proc: ProcInfo) -> dict[str, str]:
        """STOP would freeze procwatch itself, or the sandbox supervisor it talks to: warn before it is sent."""
        if proc.identity == identity_of(os.getpid()):
            return {"STOP": words.stop_warning("procwatch", proc.pid)}
        if proc.identity == self.sandbox_controller.sandbox_identity():
            return {"STOP": words.stop_warning("supervisor", proc.pid)}
        return {}

    def _send_signal(self, proc: ProcInfo, name: str | None) -> None:
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
        self.sandbox_controller.toggle_panel()

    def action_spawn_demo(self, recipe: str) -> None:
        self.sandbox_controller.spawn(recipe, open_panel=True)

    @on(SandboxPanel.SpawnRequested)
    def _spawn_requested(self, message: SandboxPanel.SpawnRequested) -> None:
        self.sandbox_controller.spawn(message.recipe)

    def on_sandbox_news(self, message: SandboxNews) -> None:
        if not self._shutting_down():
            self.sandbox_controller.news(message)

    @on(SandboxPanel.DemoAction)
    def _demo_action(self, message: SandboxPanel.DemoAction) -> None:
        self.sandbox_controller.act(message.action, message.demo)


def make_app(collector: Collector | None = None, process_filter: ProcessFilter = ProcessFilter(),
             interval: float = 1.0, sort: str = "pid", theme: str | None = None, sandbox: bool = True,
             hide_kernel: bool = False, readonly: bool = False, keymap: dict[str, str] | None = None,
             memory: Memory | None = None) -> ProcwatchApp:
    view = View(process_filter=process_filter, sort=sort, hide_kernel=hide_kernel)
    return ProcwatchApp(collector or make_collector(), view, interval, theme, sandbox, readonly, keymap, memory)
