"""One command in a tmux pane of a size, on a tmux server of its own, always torn down (server, pane, socket).

    with TmuxPane(["top", "-d", "1"], 160, 45) as pane:
        ...  # pane.pane_pid runs top in a 160x45 pty; pane.alive(), pane.capture()

Several panes can be open at once (tools measured together): each has a tmux server of its own.

The server and the pane's process are re-parented to the caller when tmux goes, so the caller must be a child
subreaper (idle_procs.become_subreaper()) for close() to reap them. Processes are only signalled after checking,
by identity (pid + start time, read with procwatch.engine.procfs), that they are still the ones started here.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from itertools import count

from procwatch.engine import procfs

_panes = count(1)


class TmuxPane:
    """One command in a detached tmux session of its own server (-L socket). Always torn down."""

    def __init__(self, argv: list[str] | tuple[str, ...], width: int = 160, height: int = 45) -> None:
        self.socket = f"procwatch-bench-{os.getpid()}-{next(_panes)}"
        self.argv = list(argv)
        self.size = (width, height)
        self.pane: tuple[int, int] | None = None  # identity (pid, start ticks) of the pane's process
        self.server: tuple[int, int] | None = None
        self.socket_path: str | None = None

    @property
    def pane_pid(self) -> int | None:
        return self.pane[0] if self.pane else None

    def _tmux(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True,
                              text=True, timeout=20, check=check).stdout

    def __enter__(self) -> TmuxPane:
        command = "exec " + " ".join(shlex.quote(a) for a in self.argv)
        self._tmux("new-session", "-d", "-s", "bench", "-x", str(self.size[0]), "-y", str(self.size[1]), command)
        try:
            server_pid = int(self._tmux("display-message", "-p", "-t", "bench", "#{pid}").strip())
            self.socket_path = self._tmux("display-message", "-p", "-t", "bench", "#{socket_path}").strip() or None
            pane_pid = int(self._tmux("list-panes", "-t", "bench", "-F", "#{pane_pid}").strip())
            # (pid, -1) when the start time cannot be read: still reaped if it is our child, never signalled
            self.server = procfs.identity_of(server_pid) or (server_pid, -1)
            self.pane = procfs.identity_of(pane_pid) or (pane_pid, -1)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def alive(self) -> bool:
        """The pane's process is still the one we started and not a zombie."""
        if self.pane is None or procfs.identity_of(self.pane[0]) != self.pane:
            return False
        fields = procfs.stat_fields(self.pane[0])
        return bool(fields) and fields[0] not in (b"Z", b"X")

    def capture(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "bench", check=False)

    def screen_tail(self, chars: int = 160) -> str:
        """The end of the pane's text on one line (why a tool exited)."""
        return " ".join(self.capture().split())[-chars:]

    def close(self) -> None:
        self._tmux("kill-server", check=False)  # SIGHUP to the pane's process
        # The server, then the pane process, are re-parented to us (we are a child subreaper): reap them, server
        # first (the pane becomes our child only once the server is gone). A pane process that outlives the
        # SIGHUP is killed after checking it is still the process we started.
        for identity in (self.server, self.pane):
            if identity is not None:
                _reap(identity)
        self.pane = self.server = None
        if self.socket_path and os.path.basename(self.socket_path) == self.socket:  # the server left its socket
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass
        self.socket_path = None


def _reap(identity: tuple[int, int], kill_after: float = 5.0, give_up_after: float = 15.0) -> None:
    pid = identity[0]
    kill_at, give_up, killed = time.monotonic() + kill_after, time.monotonic() + give_up_after, False
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        except ChildProcessError:
            if procfs.identity_of(pid) != identity:
                return  # gone (reaped by someone else), or another process now
        now = time.monotonic()
        if now > give_up:
            print(f"benchmarks: warning: process {pid} did not go away", file=sys.stderr)
            return
        if now > kill_at and not killed:
            try:
                procfs.signal_process(identity, signal.SIGKILL)  # pinned by a pidfd: never a reused pid
            except procfs.SignalRefused:
                pass
            killed = True
        time.sleep(0.02)
