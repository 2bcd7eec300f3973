"""`procwatch --host ...`: the fleet view first (one row per host), Enter drills into that host's full tree (the
app's own table, filters, details and signals, fed by the host's RemoteCollector), Esc goes back. The host's name
and connection state stay on screen above its tree (the snapshot's first note). The sandbox is local only."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from procwatch.engine import words
from procwatch.engine.catalog import t
from procwatch.engine.columns import Column
from procwatch.engine.escape import cut_cells, printable
from procwatch.engine.model import ProcInfo
from procwatch.engine.procfs import SignalRefused
from procwatch.engine.remote import HostSpec, RemoteCollector, SshOptions
from procwatch.engine.tree import ProcessFilter
from procwatch.ui.app import ProcwatchApp
from procwatch.ui.keys import FLEET_APP_KEYS, FLEET_KEYS, bindings
from procwatch.ui.messages import SnapshotReady
from procwatch.ui.widgets.footer import LeanFooter
from procwatch.ui.widgets.process_table import DEFAULT_COLUMNS
from procwatch.ui.widgets.screens import Dialog
from procwatch.view.fleet import FleetMonitor, HostSummary
from procwatch.view.poller import Poller, Update, View

# The table's columns, the long one last; their headers are the catalogue's `fleet.column.<key>`, and the title
# names an order (HostSummary.SORT_KEYS) by the header of the column it sorts by.
COLUMNS = ("host", "procs", "zombies", "not_reaping", "orphans", "D", "T", "age", "state")


LABEL_CELLS = 20  # a host label in the table; the line under it says everything, the state in full too
OTHER_CELLS = 66  # what the other columns take with their padding, with a label of LABEL_CELLS


def clip(text: str, cells: int) -> str:
    return text if cut_cells(text, cells) == text else cut_cells(text, cells - 1) + "…"


def summary_cells(summary: HostSummary, state_cells: int = 40) -> list[Text]:
    """One row of the fleet table; every text is literal (host labels and reasons come from outside)."""
    state = words.fleet_state(summary.state, summary.mode, summary.reason, summary.retry_in)
    style = {"connected": "", "connecting": "italic"}.get(summary.state, "bold red")
    seen = summary.processes is not None  # nothing counted before a first snapshot: "-", not 0

    def count(value: int | None, alarm: bool = False) -> Text:
        shown = str(value) if seen and value is not None else "-"
        return Text(shown, style="bold" if alarm and seen and value else "", justify="right")

    return [
        Text(clip(printable(summary.label), LABEL_CELLS), style="bold"), count(summary.processes),
        count(summary.zombies, True), count(summary.not_reaping, True), count(summary.orphans, True),
        count(summary.disk_sleep, True), count(summary.stopped, True),
        Text(words.fleet_age(summary.age), justify="right"), Text(clip(printable(state), state_cells), style=style),
    ]


def header(column: str) -> str:
    return t(f"fleet.column.{column}")


class FleetScreen(Dialog[int]):
    """One row per host; Enter opens its tree. `s` changes the order. Redrawn from the monitor's summaries every
    half second: nothing here waits for a host. Modal: the tree's keys do not act behind it."""

    BINDINGS = bindings(FLEET_KEYS)
    CSS = """
    FleetScreen { layout: vertical; background: $background; }
    FleetScreen > #fleet-title { height: 1; background: $panel; padding: 0 1; }
    FleetScreen > DataTable { height: 1fr; }
    FleetScreen > #fleet-detail { height: auto; max-height: 4; background: $boost; padding: 0 1; }
    """

    def __init__(self, monitor: FleetMonitor) -> None:
        super().__init__()
        self.monitor = monitor
        self.sort = "host"
        self.order: list[int] = []  # host indexes, as the rows show them

    def compose(self) -> ComposeResult:
        yield Static(id="fleet-title")
        table: DataTable = DataTable(cursor_type="row", zebra_stripes=True)
        self.add_columns(table)
        yield table
        yield Static(id="fleet-detail")
        yield LeanFooter()

    def on_mount(self) -> None:
        self.redraw()
        self.set_interval(0.5, self.redraw)
        self.query_one(DataTable).focus()

    def redraw(self, headers: bool = False) -> None:
        """The rows again (and the columns too with `headers`, in the current language)."""
        summaries = self.monitor.summaries()
        table = self.query_one(DataTable)
        row = table.cursor_row
        selected = self.order[row] if 0 <= row < len(self.order) else None  # the cursor stays on its host
        self.order = sorted(range(len(summaries)), key=lambda i: summaries[i].sort_key(self.sort))
        with self.app.batch_update():
            table.clear(columns=headers)
            if headers:
                self.add_columns(table)
            state_cells = max(12, self.size.width - OTHER_CELLS)  # the table fits the screen: no sideways scroll
            for i in self.order:
                table.add_row(*summary_cells(summaries[i], state_cells), key=str(i))
            table.move_cursor(row=self.order.index(selected) if selected in self.order else 0)
        self.query_one("#fleet-title", Static).update(Text(words.fleet_title(len(summaries), header(self.sort))))
        self.show_detail()

    @staticmethod
    def add_columns(table: DataTable) -> None:
        for column in COLUMNS:
            table.add_column(header(column), key=column)

    def relabel(self) -> None:
        """After a language switch (the app relabels the keys of every screen): headers and title."""
        self.redraw(headers=True)

    def show_detail(self) -> None:
        summaries = self.monitor.summaries()
        row = self.query_one(DataTable).cursor_row
        if 0 <= row < len(self.order):
            s = summaries[self.order[row]]
            state = words.fleet_state(s.state, s.mode, s.reason, s.retry_in)
            self.query_one("#fleet-detail", Static).update(Text(printable(words.fleet_host_detail(s.label, state,
                                                                                                   s.python))))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def action_cycle_sort(self) -> None:
        keys = HostSummary.SORT_KEYS
        self.sort = keys[(keys.index(self.sort) + 1) % len(keys)]
        self.redraw()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if 0 <= table.cursor_row < len(self.order):
            self.dismiss(self.order[table.cursor_row])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()


class FleetApp(ProcwatchApp):
    """ProcwatchApp whose tree shows one remote host at a time, chosen on the fleet screen. Esc clears the filters
    first, then goes back; Backspace goes back keeping them (they apply to every host)."""

    BINDINGS = [*ProcwatchApp.BINDINGS, *bindings(FLEET_APP_KEYS)]

    def __init__(self, monitor: FleetMonitor, view: View, interval: float, theme: str | None = None,
                 **app_options: Any) -> None:
        self.monitor = monitor
        self.host_index = 0
        self._pollers: dict[int, Poller] = {}  # the hosts not shown now, paused
        super().__init__(monitor.collectors[0], view, interval, theme, False, **app_options)

    # Textual calls the handlers of every class in the MRO, this one's first: no super() calls here.
    def on_mount(self) -> None:
        self.monitor.start()
        self.call_after_refresh(self.show_fleet)

    def on_unmount(self) -> None:
        for poller in self._pollers.values():
            poller.stop()  # ProcwatchApp stops the one shown
        self.monitor.close()

    @property
    def host_collector(self) -> RemoteCollector:
        return self.monitor.collectors[self.host_index]

    def show_fleet(self) -> None:
        self.push_screen(FleetScreen(self.monitor), self._open_host)

    def _open_host(self, index: int | None) -> None:
        """Show that host's tree. Each host keeps its own poller (so its event log and timelines stay when you
        come back); the others are paused meanwhile (the fleet view's counts go on)."""
        if index is None:
            return
        if index != self.host_index:
            self.poller.paused = True
            self._pollers[self.host_index] = self.poller
            self.host_index = index
            self.collector = self.monitor.collectors[index]
            self.view = replace(self.view, collapsed=frozenset())  # the filters apply to every host; folds do not
            self.last = None
            poller = self._pollers.get(index)
            if poller is None:
                poller = Poller(self.collector, partial(self._from_host_poller, self.collector), self.interval,
                                self.view, on_error=self._poller_error)
                poller.start()
            poller.interval = self.interval
            poller.set_view(self.view)
            self.poller = poller
        self.poller.paused = False
        self.poller.refresh_now()
        self.focus_table()

    def _from_poller(self, update: Update) -> None:  # the first host's poller, made by ProcwatchApp
        self._from_host_poller(self.monitor.collectors[0], update)

    def _from_host_poller(self, collector: RemoteCollector, update: Update) -> None:
        message = SnapshotReady(update)
        message.collector = collector  # type: ignore[attr-defined]
        self.post_message(message)

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        if getattr(message, "collector", None) is not self.collector:
            message.prevent_default()  # from the host shown before: ProcwatchApp's handler does not see it

    def action_fleet(self) -> None:
        self.show_fleet()

    def set_language(self, lang: str) -> None:
        super().set_language(lang)
        for screen in self.screen_stack:
            if isinstance(screen, FleetScreen):
                screen.relabel()

    def action_clear_filters(self) -> None:
        """Esc clears the filters first, then goes back to the fleet."""
        if self.view.process_filter.active:
            self.set_filter(ProcessFilter())
        else:
            self.show_fleet()

    # -- remote signals: through the host's channel, the identity checked on the remote; never on the UI thread
    def _send_signal(self, proc: ProcInfo, name: str | None) -> None:
        if name is None:
            return
        collector = self.host_collector
        who = t("host.process", who=words.process_label(proc.pid, proc.name), label=collector.host.label)
        self.run_worker(lambda: self._signal_in_thread(collector, proc, name, who), thread=True,
                        group="remote-signal")

    def _signal_in_thread(self, collector: RemoteCollector, proc: ProcInfo, name: str, who: str) -> None:
        try:
            collector.signal_process(proc.identity, getattr(signal, f"SIG{name}"))
        except SignalRefused as refused:
            self.call_from_thread(self.say, words.signal_refused(refused, printable(who)), severity="error",
                                  timeout=6)
            return
        self.call_from_thread(self.say, words.signal_sent(name, printable(who)))
        self.poller.refresh_now()

    # -- the sandbox forks on this machine only
    def action_spawn_demo(self, recipe: str) -> None:
        self.say(t("host.sandbox_local_only"), severity="warning")

    def action_toggle_sandbox(self) -> None:
        self.say(t("host.sandbox_local_only"), severity="warning")


def make_fleet_app(hosts: Sequence[HostSpec], options: SshOptions, process_filter: ProcessFilter = ProcessFilter(),
                   interval: float = 1.0, sort: str = "pid", theme: str | None = None,
                   columns: tuple[Column, ...] | None = None, hide_kernel: bool = False,
                   **app_options: Any) -> FleetApp:
    """app_options: what ProcwatchApp takes besides (readonly, keymap, memory): --readonly is honoured."""
    """Nothing connects before the app mounts; the launcher first calls `app.monitor.open_masters()`."""
    monitor = FleetMonitor(hosts, replace(options, batch_mode=True), interval)
    return FleetApp(monitor, View(process_filter=process_filter, sort=sort, hide_kernel=hide_kernel), interval,
                    theme, columns=columns or DEFAULT_COLUMNS, **app_options)
