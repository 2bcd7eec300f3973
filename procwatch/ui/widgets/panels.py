"""Small widgets around the table: the summary line, the filter bar and the details panel.
Everything untrusted goes in through rich Text.append (never markup)."""

from __future__ import annotations

import os
import re
import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Static

from procwatch.engine.catalog import t
from procwatch.engine.escape import printable
from procwatch.engine.history import NOTHING_RECENT, History, Recent
from procwatch.engine.lineage import Event, Observations
from procwatch.engine.model import Identity, ProcInfo
from procwatch.engine.procfs import read_schedstat, read_wchan
from procwatch.engine.stat import format_stat
from procwatch.engine.tree import ProcessFilter
from procwatch.engine.words import (
    FIVE_STATES,
    cpu_time,
    describe_stat,
    explain_orphan,
    format_bytes,
    format_duration,
    format_elapsed,
    note_words,
    plural_s,
    process_label,
    state_model,
    timeline,
    tty_name,
    wait_status,
    zombie_wait,
)
from procwatch.view.poller import Update

_DIGITS = re.compile(r"\d")


def summary_text(update: Update, paused: bool, interval: float, readonly: bool = False) -> Text:
    snapshot = update.observations.snapshot
    counts, threads = update.facts.state_counts, update.facts.threads
    zombies = sum(1 for z in update.observations.zombies.values() if not z.threads_alive)
    text = Text()
    if readonly:  # first: it must show on the narrowest terminal
        text.append(t("readonly.mark"), style="reverse bold")
        text.append("  ")
    text.append(t("summary.counts", processes=len(snapshot), threads=threads), style="bold")
    text.append(t("summary.flagged", zombies=zombies, orphans=len(update.observations.orphans)),
                style="bold" if zombies or update.observations.orphans else "")
    for letter in "RSDTtZI":
        style = "bold" if counts.get(letter) and letter in "DZTt" else ""
        text.append(f"{letter} {counts.get(letter, 0)}  ", style=style)
    text.append(t("summary.cpus", cpus=os.cpu_count() or 1))
    period = update.period if update.period > interval else interval
    text.append(t("summary.every", period=f"{period:g}") + (t("summary.stretched") if update.period > interval * 1.01 else "") + "  ")
    text.append(t("summary.sweep", ms=f"{snapshot.sweep_seconds * 1000:.0f}"))
    if paused:
        text.append("  " + t("summary.paused"), style="reverse bold")
    return text


class SummaryBar(Static):
    DEFAULT_CSS = "SummaryBar { height: 1; background: $panel; color: $text; padding: 0 1; }"
    _shown: Text | None = None

    def show(self, text: Text) -> None:
        """One line of fixed height: no layout pass, and nothing at all when the text is unchanged."""
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)


class FilterBar(Horizontal):
    """Shows the active filters; `/` opens the text box for the incremental filter."""

    DEFAULT_CSS = """
    FilterBar { height: auto; max-height: 3; display: none; background: $boost; }
    FilterBar.active, FilterBar.editing { display: block; }
    FilterBar > #filter-label { width: auto; max-width: 50%; padding: 0 1; color: $text-accent; }
    FilterBar > Input { min-width: 20; }
    FilterBar > Input, FilterBar > Input:focus { display: none; width: 1fr; height: 1; border: none; padding: 0 1; }
    FilterBar.editing > Input { display: block; }
    """

    class TextChanged(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Done(Message):
        """Enter or Escape in the text box."""

        def __init__(self, cleared: bool) -> None:
            super().__init__()
            self.cleared = cleared

    def compose(self) -> ComposeResult:
        yield Static(id="filter-label")
        yield Input(placeholder=t("filter.placeholder"), id="filter-input")

    def show_filter(self, process_filter: ProcessFilter, hidden_kernel: bool, notes: tuple[str, ...] = ()) -> None:
        """The active filters, and notes about what cannot be seen (hidepid...): a line of their own, so they
        are not cut at the end of the summary bar."""
        parts = [note_words(note) for note in notes]
        if process_filter.active:
            parts.append(t("filter.label", text=printable(process_filter.describe())))
        if hidden_kernel:
            parts.append(t("filter.kernel_hidden"))
        label = self.query_one("#filter-label", Static)
        label.update(Text("  ·  ".join(parts) + (t("filter.esc") if process_filter.active else "")))
        self.set_class(bool(parts), "active")

    def relabel(self) -> None:
        self.query_one(Input).placeholder = t("filter.placeholder")

    def edit(self, text: str) -> None:
        self.add_class("editing")
        box = self.query_one(Input)
        box.value = text
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.TextChanged(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.remove_class("editing")
        self.post_message(self.Done(cleared=False))

    def key_escape(self) -> None:
        if self.has_class("editing"):
            self.remove_class("editing")
            self.query_one(Input).value = ""
            self.post_message(self.Done(cleared=True))


def five_state_diagram(lit: tuple[str, ...]) -> Text:
    """新建 new → 就绪 ready ⇄ 运行 running → 等待 waiting → 终止 terminated, the process's boxes lit."""
    text = Text("  ")
    for state, arrow in zip(FIVE_STATES, (" → ", " ⇄ ", " → ", " → ", ""), strict=True):
        text.append(f" {t('model.' + state)} ", style="reverse bold" if state in lit else "dim")
        text.append(arrow)
    return text


def details_text(p: ProcInfo, observations: Observations, events: list[Event] | None = None,
                 ended: str | None = None, running: bool | None = None, run_split: str = "") -> Text:
    """Everything about one process: each STAT character in words, its place in the process models (the
    five-state diagram lit), its timeline, and the story of a zombie, an orphan, a D or a T."""
    snapshot = observations.snapshot
    now = snapshot.taken_at
    parent = snapshot.get(p.ppid)
    parent_label = process_label(p.ppid, printable(parent.name)) if parent else str(p.ppid)
    zombie = observations.zombies.get(p.pid)
    threads_alive = zombie is not None and zombie.threads_alive
    model = state_model(p.state, threads_alive, running if p.state == "R" else None)
    text = Text()
    text.append(f"{p.pid} ", style="bold")
    text.append(printable(p.name), style="bold")
    text.append(f"   STAT {format_stat(p)}   ", style="bold")
    text.append(f"{t('model.three')}: {model.three_state} · {t('model.five')}: {model.five_state}\n", style="italic")
    text.append_text(five_state_diagram(("terminated",) if ended else model.lit))
    text.append("\n")
    for phrase in describe_stat(p):
        text.append(f"  {phrase}\n")
    text.append(f"  {model.note}\n", style="italic")
    if run_split:
        text.append(f"  {run_split}\n", style="italic")
    history = timeline(p, events or [], ended)
    text.append(t("details.timeline"), style="bold")
    text.append(history + "\n")
    text.append(t("details.ids", ppid=parent_label, sid=p.session, pgid=p.pgrp, tpgid=p.tpgid, tty=tty_name(p.tty_nr),
                  user=printable(p.user), uid=p.uid, nice=p.nice, threads=p.threads) + "\n")
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(p.started))
    text.append(t("details.started", started=started, elapsed=format_elapsed(now - p.started), cpu=f"{p.cpu_percent:.1f}",
                  cpu_time=cpu_time(p.cpu_ticks), rss=format_bytes(p.rss))
                + (t("details.locked", kb=p.locked_kb) if p.locked_kb else "") + "\n")
    text.append(t("details.command"), style="bold")
    if p.argv:
        text.append(printable(" ".join(p.argv)) + "\n")
    else:
        kind = "kernel" if p.kernel_thread else "exited" if p.state == "Z" else None
        text.append(t(f"details.no_argv_{kind}" if kind else "details.no_argv", name=printable(p.name)) + "\n")
    text.append(t("details.pid_note") + "\n", style="dim")
    if p.pid in (1, 2):
        text.append(t("details.root_note") + "\n", style="dim")
    if zombie is not None:
        if zombie.threads_alive:
            text.append(t("zombie.not_yet"), style="bold")
            text.append(t("zombie.threads_alive") + "\n")
        else:
            text.append(t("zombie.title"), style="bold")
            text.append(t("zombie.explain", status=wait_status(zombie.exit_code), waited=zombie_wait(zombie, now),
                          parent=parent_label) + "\n")
    unreaped = observations.unreaped.get(p.pid)
    if unreaped is not None:
        text.append(t("unreaped.title"), style="bold")
        text.append(t("unreaped.explain", count=unreaped.count, ren=plural_s(unreaped.count, "ren"),
                      duration=format_duration(now - unreaped.oldest_since)) + "\n")
    orphan = observations.orphans.get(p.pid)
    if orphan is not None:
        text.append(t("orphan.title"), style="bold")
        text.append(printable(explain_orphan(orphan)) + "\n")
    if p.state == "D":
        wchan = read_wchan(p.pid)
        text.append(t("disk.title"), style="bold")
        text.append(t("disk.explain", wchan=t("disk.in", wchan=printable(wchan)) if wchan else "") + "\n")
    elif p.state in "Tt":
        text.append(t("stopped.title" if p.state == "T" else "traced.title"), style="bold")
        text.append(t("stopped.explain" if p.state == "T" else "traced.explain") + "\n")
    return text


class DetailsPanel(Static):
    DEFAULT_CSS = """
    DetailsPanel { height: 30%; min-height: 6; max-height: 14; border-top: solid $primary; padding: 0 1; overflow-y: auto; }
    """
    _shown: Text | None = None
    _shape: str = ""
    _sched: tuple[Identity, int, int] | None = None  # the selected process's schedstat at the last look

    def show_process(self, p: ProcInfo | None, observations: Observations | None, history: History | None = None,
                     recent: Recent = NOTHING_RECENT) -> None:
        if p is None or observations is None:
            text = Text(t("details.none"))
        else:
            ended = recent.ended.get(p.pid)
            running, split = self._run_split(p) if p.state == "R" and ended is None else (None, "")
            text = details_text(p, observations, history.of(p.identity) if history else [],
                                ended.kind if ended is not None and ended.proc is p else None, running, split)
        if text != self._shown:  # most refreshes change nothing here: skip the layout pass
            self._shown = text
            # Where only digits changed (an age, CPU %, RSS: every second), the text wraps to the same lines, so
            # the panel keeps its size and scroll range: repaint it without a layout pass of the whole screen.
            shape = _DIGITS.sub("0", text.plain)
            self.update(text, layout=shape != self._shape)
            self._shape = shape

    def _run_split(self, p: ProcInfo) -> tuple[bool | None, str]:
        """R is ready or running: /proc/PID/schedstat tells, as time on a CPU against time in the run queue
        since the last look (only the selected process is read, on the UI thread: one small file)."""
        sched = read_schedstat(p.pid)
        if sched is None:
            return None, ""
        before, self._sched = self._sched, (p.identity, *sched)
        if before is None or before[0] != p.identity:
            return None, ""
        ran, waited = sched[0] - before[1], sched[1] - before[2]
        if ran + waited <= 0:
            return None, ""
        running = round(100 * ran / (ran + waited))
        return ran >= waited, t("details.run_split", running=running, ready=100 - running)
