"""Running the app from the command line: SIGTERM/SIGHUP end it the normal way, and the exit status."""

from __future__ import annotations

import signal
import sys
from types import FrameType, TracebackType

from procwatch.engine.tree import ProcessFilter
from procwatch.ui.app import ProcwatchApp, make_app


class _ExitOnSignals:
    """SIGTERM and SIGHUP end the app the normal way, so the terminal is restored and the sandbox cleaned up
    (Python's default action would kill the process with the terminal still in the alternate screen)."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __init__(self, app: ProcwatchApp) -> None:
        self.app = app

    def __enter__(self) -> None:
        self.previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signo: int, frame: FrameType | None) -> None:
        if self.app.is_running:
            self.app.call_later(self.app.exit, 128 + signo)


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
