"""The remote side of `procwatch --host`: this module, the collector and what they import are sent over ssh to the
remote's `python3 -c` (see procwatch.engine.remote); nothing is installed there. Standard library only.

It sweeps /proc every `interval` seconds and writes the snapshots to stdout as JSON Lines (procwatch.engine.wire):
the first whole, then only the records that changed and the pids that went away. It reads commands from stdin
(a signal, with the same pid + start time check through a pidfd as a local signal) and ends on end-of-file or when
stdout is gone: the ssh connection ending ends it.
"""

from __future__ import annotations

import os
import platform
import queue
import sys
import threading
import time
from typing import IO

from procwatch.engine import procfs, wire
from procwatch.engine.collector import ProcfsCollector

MAX_COMMAND = 4096  # bytes in one command line from procwatch


def _read_commands(stream: IO[bytes], commands: queue.SimpleQueue, wake: threading.Event) -> None:
    try:
        while True:
            line = stream.readline(MAX_COMMAND + 1)
            if not line or not line.endswith(b"\n"):
                break
            commands.put(line)
            wake.set()
    except (OSError, ValueError):
        pass
    commands.put(None)  # end of file: procwatch went away
    wake.set()


def _answer(line: bytes) -> bytes | None:
    """The reply to one command line, or None for a line that is not a known command."""
    try:
        command = wire.parse_line(line)
    except wire.WireError:
        return None
    if not (type(command) is list and len(command) == 5 and command[0] == "signal"
            and all(type(v) is int for v in command[1:])):
        return None
    _, request, pid, start_ticks, signo = command
    if pid <= 0 or not 0 < signo < 65:
        return wire.encode(["reply", request, "unopenable", "bad request"])
    try:
        procfs.signal_process((pid, start_ticks), signo)
    except procfs.SignalRefused as refused:
        return wire.encode(["reply", request, refused.reason, refused.detail[:200]])
    return wire.encode(["reply", request, "sent", ""])


def main(interval: float, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None) -> int:
    stdin = stdin if stdin is not None else sys.stdin.buffer
    out = stdout if stdout is not None else sys.stdout.buffer
    interval = min(max(float(interval), 0.25), 3600.0)
    try:
        collector = ProcfsCollector()
    except OSError as error:
        out.write(wire.encode(["error", f"cannot read /proc: {error.strerror or error}"]))
        out.flush()
        return 1
    commands: queue.SimpleQueue = queue.SimpleQueue()
    wake = threading.Event()
    threading.Thread(target=_read_commands, args=(stdin, commands, wake), daemon=True).start()
    encoder = wire.DeltaEncoder()
    info = {"python": platform.python_version(), "kernel": os.uname().release, "notes": list(collector.notes),
            "pid": os.getpid()}  # so that a check on the remote does not count the agent itself
    try:
        out.write(wire.encode(["hello", wire.PROTOCOL, info]))
        next_sweep = 0.0
        while True:
            now = time.monotonic()
            if now >= next_sweep:
                out.write(encoder.encode(collector.sweep()))
                out.flush()
                next_sweep = now + interval
            wake.wait(max(0.0, next_sweep - time.monotonic()))
            wake.clear()
            while not commands.empty():
                line = commands.get()
                if line is None:
                    return 0
                reply = _answer(line)
                if reply is not None:
                    out.write(reply)
                    out.flush()
    except (BrokenPipeError, ConnectionError):
        return 0  # procwatch went away
