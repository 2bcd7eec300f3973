"""Small widgets around the table: the summary line, the filter bar and the details panel.
Everything untrusted goes in through rich Text.append (never markup)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Static

from procwatch.engine.escape import printable
from procwatch.engine.lineage import Observations
from procwatch.engine.model import ProcInfo
from procwatch.engine.procfs import read_wchan
from procwatch.engine.stat import format_stat
from procwatch.engine.tree import ProcessFilter
from procwatch.engine.words import (
    READONLY_MARK,
    describe_stat,
    explain_orphan,
    format_bytes,
    format_duration,
    format_elapsed,
    plural,
    state_model,
    tty_name,
    wait_status,
    zombie_wait,
)
from procwatch.view.poller import Update


def summary_text(update: Update, paused: bool, interval: float, readonly: bool = False) -> Text:
    snapshot = update.observations.snapshot
    counts, threads = update.facts.state_counts, update.facts.threads
    zombies = sum(1 for z in update.observations.zombies.values() if not z.threads_alive)
    text = Text()
    if readonly:  # first: it must show on the narrowest terminal
        text.append(READONLY_MARK, style="reverse bold")
        text.append("  ")
    text.append(f"{len(snapshot)} processes, {threads} threads  ", style="bold")
    text.append(f"zombies {zombies}  orphans {len(update.observations.orphans)}  ",
                style="bold" if zombies or update.observations.orphans else "")
    for letter in "RSDTtZI":
        style = "bold" if counts.get(letter) and letter in "DZTt" else ""
        text.append(f"{letter} {counts.get(letter, 0)}  ", style=style)
    period = update.period if update.period > interval else interval
    text.append(f"every {period:g}s{' (stretched)' if update.period > interval * 1.01 else ''}  ")
    text.append(f"sweep {snapshot.sweep_seconds * 1000:.0f} ms")
    if paused:
        text.append("  PAUSED", style="reverse bold")
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
        yield Input(placeholder="filter by name, command line or pid (Enter keeps, Esc clears)", id="filter-input")

    def show_filter(self, process_filter: ProcessFilter, hidden_kernel: bool, notes: tuple[str, ...] = ()) -> None:
        """The active filters, and notes about what cannot be seen (hidepid...): a line of their own, so they
        are not cut at the end of the summary bar."""
        parts = list(notes)
        if process_filter.active:
            parts.append("filter: " + printable(process_filter.describe()))
        if hidden_kernel:
            parts.append("kernel threads hidden")
        label = self.query_one("#filter-label", Static)
        label.update(Text("  ·  ".join(parts) + ("  (Esc clears)" if process_filter.active else "")))
        self.set_class(bool(parts), "active")

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


def details_text(p: ProcInfo, observations: Observations) -> Text:
    """Everything about one process, each STAT character in words and its place in the process models."""
    snapshot = observations.snapshot
    now = snapshot.taken_at
    parent = snapshot.get(p.ppid)
    parent_label = f"{p.ppid} ({printable(parent.name)})" if parent else str(p.ppid)
    text = Text()
    text.append(f"{p.pid} ", style="bold")
    text.append(printable(p.name), style="bold")
    text.append(f"   STAT {format_stat(p)}   ", style="bold")
    model = state_model(p.state)
    text.append(f"3-state: {model.three_state} · 5-state: {model.five_state}\n", style="italic")
    for phrase in describe_stat(p):
        text.append(f"  {phrase}\n")
    text.append(f"  model: {model.note}\n", style="italic")
    text.append(f"PPID {parent_label}  SID {p.session}  PGID {p.pgrp}  TPGID {p.tpgid}  TTY {tty_name(p.tty_nr)}  "
                f"user {printable(p.user)} ({p.uid})  nice {p.nice}  threads {p.threads}\n")
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(p.started))
    text.append(f"started {started} ({format_elapsed(now - p.started)} ago)  CPU {p.cpu_percent:.1f}%  "
                f"RSS {format_bytes(p.rss)}" + (f"  locked {p.locked_kb} kB" if p.locked_kb else "") + "\n")
    text.append("command: ", style="bold")
    text.append((printable(" ".join(p.argv)) if p.argv else f"[{printable(p.name)}] (no command line: "
                 + ("kernel thread)" if p.kernel_thread else "it has exited)" if p.state == "Z" else "none given)"))
                + "\n")
    zombie = observations.zombies.get(p.pid)
    if zombie is not None:
        if zombie.threads_alive:
            text.append("Not a zombie yet: ", style="bold")
            text.append("its main thread exited, but other threads still run, so the process is alive (ps shows "
                        "Zl). It becomes a zombie when the last thread exits.\n")
        else:
            text.append("Zombie: ", style="bold")
            text.append(f"{wait_status(zombie.exit_code)}, unreaped{zombie_wait(zombie, now)}. Parent {parent_label} must call wait() to collect "
                        f"it. Killing a zombie does nothing: it is already dead. It goes away when its parent reaps "
                        f"it, or when the parent exits and init (or a subreaper) adopts and reaps it.\n")
    unreaped = observations.unreaped.get(p.pid)
    if unreaped is not None:
        text.append("Parent of zombies: ", style="bold")
        text.append(f"{plural(unreaped.count, 'exited child', 'exited children')} not reaped, the oldest for "
                    f"{format_duration(now - unreaped.oldest_since)}: this process does not call wait().\n")
    orphan = observations.orphans.get(p.pid)
    if orphan is not None:
        text.append("Orphan: ", style="bold")
        text.append(printable(explain_orphan(orphan)) + "\n")
    if p.state == "D":
        wchan = read_wchan(p.pid)
        text.append("Disk sleep: ", style="bold")
        text.append("waiting in the kernel" + (f" in {printable(wchan)}" if wchan else "") +
                    "; signals (even SIGKILL) wait until the operation completes.\n")
    elif p.state in "Tt":
        text.append("Stopped: " if p.state == "T" else "Traced: ", style="bold")
        text.append("SIGCONT resumes it.\n" if p.state == "T" else "its tracer (a debugger or strace) resumes it.\n")
    return text


class DetailsPanel(Static):
    DEFAULT_CSS = """
    DetailsPanel { height: 30%; min-height: 6; max-height: 14; border-top: solid $primary; padding: 0 1; overflow-y: auto; }
    """
    _shown: Text | None = None

    def show_process(self, p: ProcInfo | None, observations: Observations | None) -> None:
        text = Text("no process selected") if p is None or observations is None else details_text(p, observations)
        if text != self._shown:  # most refreshes change nothing here: skip the layout pass
            self._shown = text
            self.update(text)
