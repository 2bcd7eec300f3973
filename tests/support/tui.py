"""Helpers for Pilot and snapshot tests of the TUI."""

from __future__ import annotations

import io

from rich.console import Console
from scenes import applied, wait_for  # one copy, shared with the screenshots
from textual.command import CommandList, CommandPalette

from procwatch.ui.app import ProcwatchApp
from procwatch.ui.widgets.panels import details_text
from procwatch.ui.widgets.process_table import ProcessTable


def selected_details(app: ProcwatchApp) -> str:
    """The details panel's text for the selected process, as plain text."""
    selected = table(app).selected
    if selected is None or app.last is None:
        return ""
    return details_text(selected, app.last.observations, app.poller.history.of(selected.identity)).plain


async def next_update(pilot, app: ProcwatchApp, sweep: bool = True) -> None:
    """Ask the poller for a sweep (or wait for the rebuild already requested) and wait until it is applied."""
    seen = applied(app)
    if sweep:
        app.poller.refresh_now()
    await wait_for(pilot, lambda: applied(app) > seen, what="an update from the poller")
    await pilot.pause()


async def run_from_palette(pilot, app: ProcwatchApp, text: str) -> None:
    """ctrl+p, type `text`, and Enter once the palette offers, first, a command starting with it. (The palette
    searches in a worker: an Enter before its results come selects nothing, or a partial search's first hit.)"""
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the command palette")
    await pilot.press(*text)

    def first_hit() -> str:
        found = app.screen.query(CommandList)
        hits = found.first() if found else None
        if hits is None or hits.highlighted is None or not hits.option_count:
            return ""
        return str(hits.get_option_at_index(hits.highlighted).prompt)

    await wait_for(pilot, lambda: first_hit().startswith(text), what=f"the palette to offer {text!r}")
    await pilot.press("enter")


def table(app: ProcwatchApp) -> ProcessTable:
    return app.query_one(ProcessTable)


def row_text(app: ProcwatchApp, pid: int) -> str:
    """The text the table draws for a process (all of it, before horizontal cropping)."""
    t = table(app)
    for row in t.rows:
        if row.proc.pid == pid:
            return t._render_row(row, t.rich_style, None).text
    raise AssertionError(f"pid {pid} is not shown")


def shown_pids(app: ProcwatchApp) -> list[int]:
    """The processes the table shows alive (ended ones stay a moment, dimmed: ended_pids)."""
    t = table(app)
    return [row.proc.pid for row in t.rows if not t.ended(row.proc)]


def shown_state(app: ProcwatchApp, pid: int) -> str | None:
    """The state letter of the row shown alive for `pid` (None when there is none): what the last sweep read, which
    may be older than what the process is now."""
    t = table(app)
    return next((row.proc.state for row in t.rows if row.proc.pid == pid and not t.ended(row.proc)), None)


def ended_pids(app: ProcwatchApp) -> list[int]:
    """The processes shown dimmed for a moment after they ended ("exited" or "reaped")."""
    t = table(app)
    return [row.proc.pid for row in t.rows if t.ended(row.proc)]


def notifications(app: ProcwatchApp) -> list[str]:
    return [n.message for n in app._notifications]


def plain_text(content: object, width: int = 200) -> str:
    """What a widget's content (a string or any rich renderable) reads as, as plain text."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


def screen_text(app: ProcwatchApp) -> str:
    """The visible lines of the table, as a person would read them."""
    t = table(app)
    return "\n".join(t.render_line(y).text for y in range(t.scrollable_content_region.height))


__all__ = ["applied", "ended_pids", "next_update", "notifications", "plain_text", "row_text", "run_from_palette",
           "screen_text", "selected_details", "shown_pids", "shown_state", "table", "wait_for"]
