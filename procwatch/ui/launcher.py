"""Running the app from the command line: SIGTERM/SIGHUP end it the normal way, and the exit status."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType, TracebackType
from typing import Any

from procwatch.engine import words
from procwatch.engine.columns import Column
from procwatch.engine.remote import HostSpec, SshOptions
from procwatch.engine.state import StateFile
from procwatch.engine.tree import ProcessFilter
from procwatch.ui.app import ProcwatchApp, make_app
from procwatch.ui.memory import Memory
from procwatch.ui.web import served_session


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
            self.app.call_later(self.app.exit, None, 128 + signo)


class _TerminalWatch:
    """Ends procwatch when its terminal goes away (window closed, ssh dropped, tmux server killed) even when no
    SIGHUP comes: a thread waits in poll(2) for a hang-up of the terminal. Textual's input thread spins on a dead
    pty and would keep the process alive at 100 % of a core, so the last resort is a hard exit after the sandbox is
    reaped. The thread sleeps in the kernel until the terminal hangs up or __exit__ writes to its wake-up pipe: no
    periodic wake-up (it woke 10 times a second, a visible share of an idle procwatch's CPU)."""

    GRACE = 0.5  # seconds the app gets to end the normal way

    def __init__(self, app: ProcwatchApp, fds: tuple[int, ...]) -> None:
        self.app, self.fds = app, fds
        self.lost = threading.Event()
        self._done = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name="procwatch-terminal-watch", daemon=True)

    def __enter__(self) -> _TerminalWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        os.write(self._wake_write, b"x")
        self._thread.join(timeout=1)
        if not self._thread.is_alive():  # else it is on its way to os._exit: leave its pipe open
            os.close(self._wake_read)
        os.close(self._wake_write)

    def _run(self) -> None:
        poller = select.poll()
        hangup = select.POLLHUP | select.POLLERR | select.POLLNVAL
        for fd in self.fds:
            poller.register(fd, hangup)  # no POLLIN: keys are the input thread's, only a hang-up wakes us
        poller.register(self._wake_read, select.POLLIN)
        while not self._done.is_set():
            events = poller.poll()
            if not any(fd in self.fds and mask & hangup for fd, mask in events):
                continue  # the wake-up pipe (then _done is set), or an interrupted poll
            self.lost.set()
            self.app.exit(None, 128 + signal.SIGHUP)  # thread-safe: sets flags and posts a message
            if self._done.wait(self.GRACE):
                return
            self.app.sandbox_controller.close()  # the event loop is stuck: reap the sandbox ourselves
            os._exit(128 + signal.SIGHUP)


def _terminal_missing() -> str | None:
    if served_session():  # a browser tab of --web: Textual's web driver talks over pipes, by design
        return None
    for name, stream in (("standard input", sys.stdin), ("standard output", sys.stdout)):
        if stream is None or not stream.isatty():
            return f"{name} is not one"
    if os.environ.get("TERM", "dumb") in ("dumb", ""):
        return "TERM is dumb or unset (no cursor movement)"
    return None


def run_app(process_filter: ProcessFilter, interval: float, sort: str, theme: str | None, sandbox: bool,
            hide_kernel: bool = False, readonly: bool = False, keymap: dict[str, str] | None = None,
            state: StateFile | None = None, remembered: dict[str, Any] | None = None, notices: Sequence[str] = (),
            theme_origin: str | None = None, lesson: bool = False, columns: tuple[Column, ...] | None = None,
            procfs: str = "/proc", hosts: Sequence[HostSpec] = (), ssh_options: SshOptions | None = None) -> int:
    """theme_origin: where the theme came from: "flag", "state" or "FILE:LINE" of the config file.
    hosts: other machines over ssh: the fleet view first."""
    missing = _terminal_missing()
    if missing is not None:
        print(f"procwatch: the TUI needs a terminal, and {missing}; "
              "use procwatch --once (or --once --json) in scripts and pipes", file=sys.stderr)
        return 2
    notices = list(notices)
    memory = Memory(state, remembered, notices)
    fleet = None
    if hosts:
        from procwatch.ui.fleet import make_fleet_app

        app: ProcwatchApp = (fleet := make_fleet_app(
            hosts, ssh_options or SshOptions(), process_filter, interval, sort, theme, columns=columns,
            hide_kernel=hide_kernel, readonly=readonly, keymap=keymap, memory=memory))
    else:
        app = make_app(process_filter=process_filter, interval=interval, sort=sort, theme=theme, sandbox=sandbox,
                       hide_kernel=hide_kernel, readonly=readonly, keymap=keymap, memory=memory, lesson=lesson,
                       columns=columns, procfs=procfs)
    if theme is not None and theme not in app.available_themes:
        if theme_origin == "state":  # a theme remembered from a version that had it: not worth refusing to start
            app.initial_theme = None
            memory.notices.append(words.remembered_theme_gone(theme))
        else:
            names = ", ".join(sorted(app.available_themes))
            where = f"{theme_origin}: theme" if theme_origin not in (None, "flag") else "--theme"
            print(f"procwatch: {where}: unknown theme {theme!r}; choose from {names}", file=sys.stderr)
            return 2
    if fleet is not None:
        fleet.monitor.open_masters()  # passwords and 2FA prompts now, on the terminal, before the TUI
    with _ExitOnSignals(app), _TerminalWatch(app, (sys.stdin.fileno(), sys.stdout.fileno())) as watch:
        app.run()
    status = app.return_code or 0
    if app.memory_notice:
        print(f"procwatch: {app.memory_notice}", file=sys.stderr)
    if app._exception is not None:
        print(f"procwatch: ended by an internal error: {app._exception!r}", file=sys.stderr)
        status = status or 1
    if watch.lost.is_set() or _threads_left():
        # Textual's input thread can outlive a lost terminal (it loops on EIO): do not wait for it.
        app.sandbox_controller.close()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)
    return status


def _threads_left(timeout: float = 0.5) -> bool:
    """Whether a non-daemon thread other than this one is still running after `timeout` seconds."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(timeout)
            if thread.is_alive():
                return True
    return False
