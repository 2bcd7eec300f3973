"""The command palette: jump to a PID, filter by a user or a state present now, pause, sort."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape

from procwatch.engine.columns import COLUMNS
from procwatch.engine.escape import printable
from procwatch.engine.stat import STATE_LETTERS
from procwatch.engine.tree import SORT_KEYS
from procwatch.engine.words import STATE_WORDS

if TYPE_CHECKING:
    from procwatch.ui.app import ProcwatchApp


class ProcwatchCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app: ProcwatchApp = self.app  # type: ignore[assignment]
        commands: list[tuple[str, Callable[[], Any], str]] = [
            ("Jump to PID…", app.action_jump, "move the cursor to a process by its PID"),
            ("Pause / resume refresh", app.action_pause, "stop or restart the sweeps"),
            ("Clear filters", app.action_clear_filters, "show every process"),
            ("Show / hide kernel threads", app.action_toggle_kernel, "kernel threads are children of kthreadd"),
        ]
        shown = {column.key for column in app.columns}
        for column in COLUMNS:
            if column.key != "command":
                verb = "Hide" if column.key in shown else "Show"
                commands.append((f"{verb} column {column.header}", partial(app.toggle_column, column.key),
                                 column.help))
        for key in SORT_KEYS:
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
