"""Make N idle processes in their own process group, with a realistic tree shape, and always clean them up.

    with IdleProcs(5000) as group:      # 5,000 processes (the fork server included), all in group.pgid
        ...                             # measure something
    # here every one of them has been SIGKILLed and reaped

How it stays cheap: one fork server (`python -S fork_server.py`, its own session and process group)
reads a tree spec on stdin and forks it after import: inner nodes are forked Python processes that sleep in
`signal.pause()` (~0.3 MiB private each), most leaves are `/bin/sleep` started by `posix_spawn` (~0.2 MiB each).
10,000 processes cost about 2.5 GiB and 5-10 s to start on the 2-core dev machine.

How it always cleans up (several independent layers, any one is enough):
1. `close()` (the context manager's exit, also on exceptions and Ctrl-C) sends SIGKILL to the process group and
   reaps every member: the calling process becomes a child subreaper (PR_SET_CHILD_SUBREAPER) when the first
   group starts, so the orphaned grandchildren are re-parented to it and `waitpid(-pgid)` reaps them all.
2. `atexit` and SIGTERM/SIGHUP handlers (`install_cleanup_handlers`) run `close()` for every open group.
3. The fork server watches its stdin pipe: EOF (the controller died, even by SIGKILL) -> it SIGKILLs its group.
4. The server and every forked Python node have PR_SET_PDEATHSIG(SIGHUP) with a handler that SIGKILLs the
   whole group (the death of any parent takes everything down), and an alarm() self-destruct; every `sleep`
   leaf exits on its own after `lifetime` seconds.

Only the group this module created is ever signalled: its pgid is the pid of the fork server, our direct child,
which is not reaped before the killpg, so that pid cannot have been reused.

Standalone: `python benchmarks/idle_procs.py 5000 --hold 60` makes 5,000 processes and holds them 60 s (Ctrl-C
ends early), e.g. to try htop or procwatch by hand.
"""

from __future__ import annotations

import os
import signal
import sys

from fork_server import tree_spec  # benchmarks/fork_server.py

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # procwatch, imported lazily (by the controller only)
FORK_SERVER = os.path.join(HERE, "fork_server.py")
PR_SET_CHILD_SUBREAPER = 36


# --------------------------------------------------------------------------------------------------------------
# The controller
# --------------------------------------------------------------------------------------------------------------

_open_groups: list[IdleProcs] = []
_handlers_installed = False


def _prctl(option: int, arg: int) -> bool:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Orphans of our descendants (a fork server's nodes, a tmux server) are re-parented to us, to be reaped."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def close_all() -> None:
    for group in list(_open_groups):
        group.close()


def _on_signal(signum, frame) -> None:
    close_all()
    raise SystemExit(128 + signum)


def install_cleanup_handlers() -> None:
    """atexit + SIGTERM/SIGHUP -> close every open group. SIGINT stays KeyboardInterrupt, which unwinds through
    the context managers. Only from the main thread (signal handlers cannot be set elsewhere)."""
    global _handlers_installed
    if _handlers_installed:
        return
    import atexit
    import threading

    atexit.register(close_all)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) in (signal.SIG_DFL, None):
                signal.signal(signum, _on_signal)
    _handlers_installed = True


class IdleProcs:
    """N idle processes (the fork server included) in one new process group. Use as a context manager."""

    def __init__(self, n: int, seed: int = 5, lifetime: int = 1800, ready_timeout: float = 120.0) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n
        self.seed = seed
        self.lifetime = lifetime
        self.ready_timeout = ready_timeout
        self.pgid: int | None = None
        self.start_seconds = 0.0
        self._server = None
        self._closed = False

    # -- lifecycle --------------------------------------------------------------------------------------------
    def __enter__(self) -> IdleProcs:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        import json
        import select
        import subprocess
        import time

        install_cleanup_handlers()
        if not become_subreaper():
            raise RuntimeError("cannot become a child subreaper: orphans could not be reaped")
        spec = tree_spec(self.n, self.seed)
        started = time.monotonic()
        read_fd, write_fd = os.pipe()
        try:
            self._server = subprocess.Popen(
                [sys.executable, "-S", FORK_SERVER, str(self.lifetime), str(write_fd)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=(write_fd,), start_new_session=True,
            )
        finally:
            os.close(write_fd)
        self.pgid = self._server.pid
        _open_groups.append(self)
        try:
            self._server.stdin.write(json.dumps(spec).encode() + b"\n")
            self._server.stdin.flush()  # stdin stays open: closing it tells the server to kill the group
            ready, deadline = 0, time.monotonic() + self.ready_timeout
            while ready < self.n:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                    raise TimeoutError(f"only {ready} of {self.n} idle processes ready after {self.ready_timeout} s")
                chunk = os.read(read_fd, 65536)
                if not chunk or b"!" in chunk:
                    raise RuntimeError(f"fork server failed after {ready} of {self.n} processes (see stderr)")
                ready += len(chunk)
            self.start_seconds = time.monotonic() - started
        except BaseException:
            self.close()
            raise
        finally:
            os.close(read_fd)

    def close(self, timeout: float = 60.0) -> int:
        """SIGKILL the group and reap every member. Returns how many were reaped. Idempotent."""
        import time

        if self._closed or self.pgid is None:
            return 0
        self._closed = True
        try:
            os.killpg(self.pgid, signal.SIGKILL)  # the server (our unreaped child) leads it: still our group
        except ProcessLookupError:
            pass
        reaped, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pid, status = os.waitpid(-self.pgid, os.WNOHANG)
            except ChildProcessError:
                break  # no child of ours left in the group
            if pid == 0:
                time.sleep(0.005)
                continue
            reaped += 1
            if pid == self._server.pid:
                self._server.returncode = os.waitstatus_to_exitcode(status)
        try:
            self._server.stdin.close()
        except (OSError, ValueError):
            pass
        if self in _open_groups:
            _open_groups.remove(self)
        left = self.members()
        if left:
            print(f"idle_procs: warning: {len(left)} processes of group {self.pgid} still alive", file=sys.stderr)
        return reaped

    # -- inspection -------------------------------------------------------------------------------------------
    def members(self) -> list[int]:
        """Pids currently in the group (read from /proc)."""
        return [pid for pid, pgrp in _pgrps() if pgrp == self.pgid] if self.pgid is not None else []


def _pgrps():
    from procwatch.engine import procfs

    for pid in procfs.pids():
        fields = procfs.stat_fields(pid)
        if fields:
            yield pid, int(fields[2])


def count_processes() -> int:
    from procwatch.engine import procfs

    return len(procfs.pids())


def main(argv: list[str]) -> int:
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Make N idle processes in their own process group for a while.")
    parser.add_argument("n", type=int)
    parser.add_argument("--hold", type=float, default=30.0, help="seconds to hold them (default 30, max 3600)")
    args = parser.parse_args(argv)
    hold = min(max(args.hold, 0.0), 3600.0)
    before = count_processes()
    with IdleProcs(args.n, lifetime=int(hold) + 120) as group:
        print(f"{args.n} processes ready in {group.start_seconds:.1f} s, process group {group.pgid}; "
              f"{count_processes()} on the machine; holding {hold:.0f} s (Ctrl-C to stop)", flush=True)
        try:
            time.sleep(hold)
        except KeyboardInterrupt:
            pass
    print(f"cleaned up: {count_processes()} processes on the machine (were {before})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
