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

from procwatch.engine import catalog, words
from procwatch.engine.catalog import t
from procwatch.engine.collector import Collector
from procwatch.engine.columns import BY_NAME, CGROUP_COLUMNS, COLUMNS, Column
from procwatch.engine.escape import printable
from procwatch.engine.history import NOTHING_RECENT
from procwatch.engine.model import INTERVAL_STEPS, ProcInfo
from procwatch.engine.procfs import SignalRefused, identity_of, signal_process
from procwatch.engine.tree import ProcessFilter, cgroup_unit, children_map
from procwatch.sandbox import Sandbox
from procwatch.ui.keys import APP_KEYS, SANDBOX_KEYS, bindings, relabel
from procwatch.ui.lesson import LessonController, LessonPanel
from procwatch.ui.memory import Memory
from procwatch.ui.messages import SandboxNews, SnapshotReady, SweepFailed
from procwatch.ui.palette import ProcwatchCommands
from procwatch.ui.sandbox_controller import SandboxController
from procwatch.ui.widgets.footer import LeanFooter
from procwatch.ui.widgets.panels import DetailsPanel, FilterBar, SummaryBar, summary_text
from procwatch.ui.widgets.process_table import DEFAULT_COLUMNS, ProcessTable
from procwatch.ui.widgets.sandbox_panel import SandboxPanel
from procwatch.ui.widgets.screens import (
    EventsScreen,
    HelpScreen,
    JumpScreen,
    PickerScreen,
    SignalScreen,
    state_choices,
)
from procwatch.view.collectors import make_collector
from procwatch.view.poller import Poller, Update, View

DETAILS_MIN_HEIGHT = 16  # rows of screen below which the details panel would leave the table no rows
SHORT_SCREEN = 32  # rows below which the lesson and the sandbox panel take less room


class ProcwatchApp(App[int]):
    TITLE = "procwatch"
    COMMANDS = App.COMMANDS | {ProcwatchCommands}
    CSS = """
    Screen { layout: vertical; }
    ProcessTable { height: 1fr; }
    """
    # The demo keys work from the tree too while the sandbox panel is open: `z` then `w` reaps the new zombie.
    BINDINGS = bindings(APP_KEYS) + bindings(SANDBOX_KEYS)

    def __init__(self, collector: Collector, view: View, interval: float, theme: str | None = None,
                 sandbox: bool = True, *, columns: tuple[Column, ...] = DEFAULT_COLUMNS, procfs: str = "/proc",
                 lesson: bool = False, readonly: bool = False, keymap: dict[str, str] | None = None,
                 memory: Memory | None = None) -> None:
        super().__init__()
        self.columns = columns
        self.procfs = procfs  # signals and demos are refused when it is not our own /proc
        self.unit_picker_pending = False  # U was pressed before the cgroups were read: open once they are
        self.readonly = readonly  # no signal, no sandbox: said by the keys that would act, shown in the summary
        self.sandbox_controller = SandboxController(
            self, sandbox and not readonly, "readonly.sandbox" if readonly else "sandbox.disabled")
        self.lesson = LessonController(self)
        self.lesson_at_start = lesson
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
        yield SummaryBar(t("summary.starting"), id="summary")
        yield LessonPanel(id="lesson")
        yield FilterBar(id="filter-bar")
        yield ProcessTable(id="table")
        yield DetailsPanel(id="details")
        if self.sandbox_controller.enabled:
            yield SandboxPanel(id="sandbox")
        yield LeanFooter()

    def on_mount(self) -> None:
        if self.initial_theme:
            self.theme = self.initial_theme
        self.relabel_keys()  # the footer's words in the current language, whatever came before
        if self.keymap:
            self.set_keymap(self.keymap)
        self.memory.start(self)
        self._show_filter()
        table = self.query_one(ProcessTable)
        table.procfs = self.procfs
        table.set_columns(self.columns)
        if self.view.process_filter.needs_cgroups or CGROUP_COLUMNS & {column.key for column in self.columns}:
            self.poller.want_cgroups()
        table.focus()
        self.place_panels()
        self.poller.start()
        if self.lesson_at_start:
            self.lesson.toggle()

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
        self.say(t("notice.sweep_failed", error=repr(message.error)), severity="error")

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
            table.empty_message = (t("table.no_match", filter=printable(update.view.process_filter.describe()))
                                   if update.view.process_filter.active else t("table.empty"))
            table.thread_rows = update.thread_rows
            if self.sandbox is not None:  # before show(): a line whose label changed is repainted with it
                table.labels = self.sandbox_controller.labels()
            table.show(update.rows, update.observations, update.facts, update.recent)
            wanted = self.sandbox_controller.select_when_seen
            if wanted is not None and table.select_pid(wanted):
                self.sandbox_controller.select_when_seen = None
            self._show_details(table.selected)
            if self.sandbox is not None:
                self.sandbox_controller.show(dict(update.observations.snapshot.procs))
            self.query_one(SummaryBar).show(summary_text(update, self.poller.paused, self.interval, self.readonly))
        if self.unit_picker_pending and update.swept and self.poller.has_cgroups:
            self.unit_picker_pending = False
            self._open_unit_picker()
        if update.threads_left_out and not (previous and previous.threads_left_out):
            self.say(words.threads_capped(update.threads_left_out), severity="warning", timeout=6)
        if first:
            self.memory.restore_collapsed(self, dict(update.observations.snapshot.procs))
            # Move everything alive now (Textual's widgets, styles, caches: ~100k objects) out of the cyclic GC's
            # reach. Measured at 10,000 processes: full collections 52 -> 15-26 ms, the largest UI stall 57 -> 18-30
            # ms. Refcounting still frees these objects; only cyclic garbage among them would stay.
            gc.freeze()

    # The table posts these while it shows a snapshot: the last ones may come once shutdown began, widgets gone.
    @on(ProcessTable.CursorMoved)
    def _cursor_moved(self, message: ProcessTable.CursorMoved) -> None:
        if not self._shutting_down():
            self._show_details(message.proc)

    def _show_details(self, proc: ProcInfo | None) -> None:
        details = self.query_one(DetailsPanel)
        if details.display:
            last = self.last
            details.show_process(proc, last.observations if last else None, self.poller.history,
                                 last.recent if last else NOTHING_RECENT)

    @on(ProcessTable.SelectedExited)
    def _selected_exited(self, message: ProcessTable.SelectedExited) -> None:
        if self._shutting_down():
            return
        gone = message.gone
        where = t("notice.cursor_moved", pid=message.now.pid, name=printable(message.now.name)) if message.now else ""
        # a zombie did not exit now (it exited long before): it was reaped
        notice = "notice.reaped" if gone.state == "Z" else "notice.exited"
        self.say(t(notice, pid=gone.pid, name=printable(gone.name), where=where), timeout=4)

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
        self.say(t("notice.sorted", key=key), timeout=2)

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
        choices = [(user, t("dialog.user_choice", user=printable(user), count=count))
                   for user, count in sorted(counts.items())]
        self.push_screen(PickerScreen(t("dialog.pick_user"), choices),
                         lambda user: None if user is None else self.set_users(frozenset([user]) if user else frozenset()))

    def action_pick_state(self) -> None:
        counts = Counter(p.state for p in self.last.observations.snapshot) if self.last else Counter()
        self.push_screen(PickerScreen(t("dialog.pick_state"), state_choices(counts)),
                         lambda letter: None if letter is None else self.set_states(frozenset(letter)))

    def toggle_column(self, key: str) -> None:
        """Show or hide a column (from the palette); the command, with the tree, always stays."""
        shown = [column.key for column in self.columns]
        if key in shown:
            shown.remove(key)
        else:
            order = [column.key for column in COLUMNS]  # a column comes back at its usual place
            shown = [k for k in order if k in shown or k == key]
        self.columns = tuple(BY_NAME[k] for k in shown)
        self.query_one(ProcessTable).set_columns(self.columns)
        if key in CGROUP_COLUMNS and not self.poller.has_cgroups:
            self.poller.want_cgroups()

    def set_units(self, units: frozenset[str]) -> None:
        self.set_filter(replace(self.view.process_filter, units=units))

    def action_pick_unit(self) -> None:
        """The units come from /proc/PID/cgroup, read from the first time they are needed: the picker then opens
        once a sweep has read them."""
        if not self.poller.has_cgroups:
            self.unit_picker_pending = True
            self.poller.want_cgroups()
            return
        self._open_unit_picker()

    def _open_unit_picker(self) -> None:
        counts = Counter(cgroup_unit(p.cgroup) for p in self.last.observations.snapshot) if self.last else Counter()
        choices = [(unit, t("dialog.user_choice", user=printable(unit), count=count)) for unit, count in counts.most_common()]
        self.push_screen(PickerScreen(t("dialog.pick_unit"), choices),
                         lambda unit: None if unit is None else self.set_units(frozenset([unit]) if unit else
                                                                               frozenset()))

    def action_toggle_threads(self) -> None:
        self._set_view(replace(self.view, threads=not self.view.threads))

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
        self.say(t("notice.interval", seconds=f"{self.interval:g}"), timeout=2)

    # -- panels and dialogs ---------------------------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self.place_panels(event.size.height, event.size.width)

    def place_panels(self, height: int | None = None, width: int | None = None) -> None:
        """The details panel shows when asked for and when the screen leaves the table room for rows; on a
        narrow screen the sandbox panel goes under the tree, and the details step aside while it is open."""
        details = self.query_one(DetailsPanel)
        height = self.size.height if height is None else height
        width = self.size.width if width is None else width
        narrow_sandbox = False
        if self.sandbox_controller.enabled:
            panel = self.query_one(SandboxPanel)
            panel.set_class(width < SandboxPanel.NARROW, "narrow")
            panel.set_class(height < SHORT_SCREEN, "short")
            narrow_sandbox = panel.has_class("narrow") and panel.has_class("open")
        details.display = self.details_wanted and height >= DETAILS_MIN_HEIGHT and not narrow_sandbox
        self.query_one(LessonPanel).set_class(height < SHORT_SCREEN, "short")

    def action_toggle_details(self) -> None:
        self.details_wanted = not self.details_wanted
        self.place_panels()
        self._show_details(self.query_one(ProcessTable).selected)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_events(self) -> None:
        """The event log, newest first, restricted to the processes the current filter shows."""
        last = self.last
        if last is None:
            return
        shown = {row.proc.identity for row in last.rows}
        names = {p.pid: printable(p.name) for p in last.observations.snapshot}
        events = self.poller.history.newest_first()
        if last.view.process_filter.active:
            events = [e for e in events if e.identity in shown]
        self.push_screen(EventsScreen([printable(words.event_line(e, names)) for e in events]))

    def action_switch_language(self) -> None:
        languages = list(catalog.LANGUAGES)
        self.set_language(languages[(languages.index(catalog.current()) + 1) % len(languages)])
        self.say(t("notice.language"), timeout=2)

    def set_language(self, lang: str) -> None:
        """Every word on screen in `lang`, now: bindings, panels, the table's markers."""
        catalog.set_language(lang)
        self.relabel_keys()
        self.refresh_bindings()
        if self.sandbox_controller.enabled:
            self.query_one(SandboxPanel).relabel()
        self.query_one(FilterBar).relabel()
        self.lesson.relabel()
        self._show_filter()
        table = self.query_one(ProcessTable)
        table.refresh()
        self._show_details(table.selected)
        if self.last is not None:
            self.query_one(SummaryBar).show(summary_text(self.last, self.poller.paused, self.interval, self.readonly))

    def relabel_keys(self) -> None:
        """The keys' words in the current language, on every screen (the tree's, and a dialog or the fleet view
        shown over it)."""
        relabel([self, *(node for screen in self.screen_stack for node in screen.walk_children(with_self=True))])

    def action_jump(self) -> None:
        self.push_screen(JumpScreen(), self.jump_to)

    def jump_to(self, pid: int | None) -> None:
        if pid is None:
            return
        if not self.query_one(ProcessTable).select_pid(pid):
            self.say(t("notice.no_pid", pid=pid), severity="warning")

    def action_signal(self) -> None:
        if self.readonly:
            self.say(t("readonly.signal"), severity="warning")
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
            signal_process(proc.identity, getattr(signal, f"SIG{name}"), self.procfs)
        except SignalRefused as refused:
            self.say(words.signal_refused(refused, who), severity="error", timeout=6)
            return
        self.say(words.signal_sent(name, who, zombie=proc.state == "Z" and proc.threads <= 1))
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "demo":  # the demo keys, only while the sandbox panel shows which demo they act on
            return self.sandbox_controller.enabled and self.query_one(SandboxPanel).has_class("open")
        if action == "lesson_step":
            return self.lesson.open
        return True

    def action_lesson(self) -> None:
        self.lesson.toggle()
        self.refresh_bindings()

    def action_lesson_step(self, delta: int) -> None:
        self.lesson.step(delta)

    def action_demo(self, action: str) -> None:
        self.sandbox_controller.act(action, self.query_one(SandboxPanel).selected_demo)

    @on(SandboxPanel.DemoAction)
    def _demo_action(self, message: SandboxPanel.DemoAction) -> None:
        self.sandbox_controller.act(message.action, message.demo)


def make_app(collector: Collector | None = None, process_filter: ProcessFilter = ProcessFilter(),
             interval: float = 1.0, sort: str = "pid", theme: str | None = None, sandbox: bool = True,
             lesson: bool = False, columns: tuple[Column, ...] | None = None, procfs: str = "/proc",
             hide_kernel: bool = False, readonly: bool = False, keymap: dict[str, str] | None = None,
             memory: Memory | None = None) -> ProcwatchApp:
    view = View(process_filter=process_filter, sort=sort, hide_kernel=hide_kernel)
    return ProcwatchApp(collector or make_collector(procfs, repeated=True), view, interval, theme, sandbox,
                        columns=columns or DEFAULT_COLUMNS, procfs=procfs, lesson=lesson, readonly=readonly,
                        keymap=keymap, memory=memory)
