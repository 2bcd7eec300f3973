"""The command palette: jump to a PID, filter by a user or a state present now, pause, sort."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape

from procwatch.engine.catalog import t
from procwatch.engine.columns import COLUMNS
from procwatch.engine.escape import printable
from procwatch.engine.stat import STATE_LETTERS
from procwatch.engine.tree import SORT_KEYS
from procwatch.engine.words import state_word

if TYPE_CHECKING:
    from procwatch.ui.app import ProcwatchApp


class ProcwatchCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app: ProcwatchApp = self.app  # type: ignore[assignment]
        commands: list[tuple[str, Callable[[], Any], str]] = [
            (t(f"palette.{name}"), action, t(f"palette.{name}.help")) for name, action in (
                ("jump", app.action_jump), ("pause", app.action_pause), ("clear", app.action_clear_filters),
                ("kernel", app.action_toggle_kernel), ("events", app.action_events),
                ("language", app.action_switch_language), ("lesson", app.action_lesson))
        ]
        shown = {column.key for column in app.columns}
        for column in COLUMNS:
            if column.key != "command":
                verb = "hide" if column.key in shown else "show"
                commands.append((t(f"palette.column.{verb}", header=column.header),
                                 partial(app.toggle_column, column.key), column.help))
        for key in SORT_KEYS:
            commands.append((t("palette.sort", key=key), partial(app.set_sort, key), t("palette.sort.help")))
        users = Counter(p.user for p in app.last.observations.snapshot) if app.last else Counter()
        for user, count in sorted(users.items()):
            commands.append((t("palette.user", user=printable(user)), partial(app.set_users, frozenset([user])),
                             t("palette.user.help", count=count)))
        for letter in STATE_LETTERS:
            commands.append((t("palette.state", letter=letter, words=state_word(letter).split(" (")[0]),
                             partial(app.set_states, frozenset(letter)), t("palette.state.help")))
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
