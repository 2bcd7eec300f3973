"""What the TUI remembers across restarts: the choices the user made while it ran (theme from the palette, sort,
interval, kernel threads, language, columns, folded subtrees), written to the state file when the app ends (procwatch.engine.state).
Only what changed during the session is written, so a value given by a flag for one run is not remembered.
Folded subtrees are remembered by command line: a pid means nothing after a restart."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from procwatch.engine import catalog
from procwatch.engine.model import ProcInfo
from procwatch.engine.state import MAX_COLLAPSED, StateFile

if TYPE_CHECKING:
    from procwatch.ui.app import ProcwatchApp


FOLD_KEY_LENGTH = 256  # characters of a command line kept: enough to tell services apart, and the file stays small


def fold_key(proc: ProcInfo) -> str:
    """What identifies a folded subtree across restarts: the command line ([name] for kernel threads). Processes
    with the same command line fold together: a pid would not survive the restart at all."""
    return (proc.cmdline or f"[{proc.name}]")[:FOLD_KEY_LENGTH]


class Memory:
    def __init__(self, state: StateFile | None = None, remembered: dict[str, Any] | None = None,
                 notices: list[str] | None = None) -> None:
        self.state = state
        self.remembered = dict(remembered or {})
        self.notices = list(notices or ())
        self.collapsed = frozenset(self.remembered.get("collapsed", ()))
        self.initial: dict[str, Any] = {}

    @staticmethod
    def current(app: ProcwatchApp) -> dict[str, Any]:
        """The remembered settings' values now, by config key."""
        return {"theme": app.theme, "sort": app.view.sort, "interval": app.interval,
                "kernel-threads": not app.view.hide_kernel, "lang": catalog.current(),
                "columns": ",".join(column.key for column in app.columns)}

    def start(self, app: ProcwatchApp) -> None:
        self.initial = self.current(app)
        for notice in self.notices:
            app.say(notice, severity="warning", timeout=10)

    def restore_collapsed(self, app: ProcwatchApp, procs: dict[int, ProcInfo]) -> None:
        """On the first snapshot: fold again the subtrees folded last time."""
        if not self.collapsed:
            return
        folded = frozenset(p.identity for p in procs.values() if fold_key(p) in self.collapsed)
        if folded - app.view.collapsed:
            app._set_view(replace(app.view, collapsed=app.view.collapsed | folded))

    def values_to_save(self, app: ProcwatchApp) -> dict[str, Any]:
        values = dict(self.remembered)
        for key, value in self.current(app).items():
            if value != self.initial.get(key, value):
                values[key] = value
        if app.last is not None:
            procs = app.last.observations.snapshot.procs
            by_identity = {p.identity: p for p in procs.values()}
            seen = {fold_key(p) for p in procs.values()}
            folded = {fold_key(by_identity[i]) for i in app.view.collapsed if i in by_identity}
            collapsed = (self.collapsed - seen) | folded  # folds of processes not running now are kept
            if collapsed != self.collapsed:
                values["collapsed"] = sorted(collapsed)[:MAX_COLLAPSED]
        return values

    def save(self, app: ProcwatchApp) -> str | None:
        """Write what changed; a notice when it could not be written (the launcher prints it after the TUI)."""
        if self.state is None or not self.initial:
            return None
        values = self.values_to_save(app)
        if values == self.remembered:
            return None
        return self.state.save(values)
