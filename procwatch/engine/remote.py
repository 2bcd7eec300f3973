"""Watching another machine over ssh, with nothing installed there. Standard library only (no Textual: `--once
--host` uses it too).

The system `ssh` client carries everything, so the user's ~/.ssh/config, agent, known hosts, ProxyJump and
ControlMaster apply. The remote command is a small POSIX sh script:
- where `python3` (3.10 or later) exists, `python3 -c LOADER` reads a zlib-compressed program of a stated length
  from stdin (procwatch.engine.agent and the engine modules it imports, served by an in-memory importer) and runs
  it. Not `python3 -`: that reads stdin to its end before running anything, and stdin must stay open to carry
  signal requests and to tell the agent, by its end, that procwatch went away;
- elsewhere it prints a marker and runs `ps` every interval (procwatch.engine.ps_text; what is lost is said).
Everything the remote sends is bounded and checked (procwatch.engine.wire). A broken stream, garbage, a flood or
an ssh failure ends the connection with one line saying why; with `reconnect` it is tried again with backoff.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import signal
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from procwatch.engine import ps_text, wire, words
from procwatch.engine.catalog import t
from procwatch.engine.escape import printable
from procwatch.engine.hosts import HostSpec, SshOptions
from procwatch.engine.model import Identity, ProcInfo, Snapshot
from procwatch.engine.procfs import SignalRefused

AGENT_MODULES = ("model", "procfs", "collector", "wire", "agent")  # what the agent imports, no more
NOISE_LINES = 50  # lines a login shell may print before the agent greets (a motd in .bashrc...)
MAX_SNAPSHOT_BYTES = 64 << 20
FLOOD_SNAPSHOTS = 40  # this many snapshots in less than FLOOD_SECONDS is a flood: the agent sends one per interval
FLOOD_SECONDS = 2.0
STDERR_TAIL = 4096
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)

__all__ = ["HostSpec", "RemoteCollector", "RemoteError", "SshOptions"]  # HostSpec, SshOptions: engine.hosts


@functools.lru_cache(maxsize=4)
def agent_program(interval: float) -> bytes:
    """The program the remote python runs, compressed: the engine modules the agent needs, an importer that serves
    them from memory (ahead of anything installed there), and the call to the agent."""
    here = Path(__file__).parent
    sources = {f"procwatch.engine.{name}": (here / f"{name}.py").read_text() for name in AGENT_MODULES}
    sources["procwatch"] = sources["procwatch.engine"] = ""
    program = f"""
import importlib.abc, importlib.util, sys
SOURCES = {sources!r}
class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name in SOURCES:
            return importlib.util.spec_from_loader(name, self, is_package=name.count(".") < 2)
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        exec(compile(SOURCES[module.__name__], "<procwatch>/" + module.__name__, "exec"), module.__dict__)
sys.meta_path.insert(0, Finder())
from procwatch.engine.agent import main
sys.exit(main({float(interval)!r}))
"""
    return zlib.compress(program.encode(), 9)


def remote_command(program_size: int, interval: float) -> str:
    """The command line ssh hands to the remote login shell: `sh -c '...'` works under bash, zsh, fish and csh."""
    loader = (f"import sys,zlib;sys.version_info>=(3,10) or sys.exit(97);"
              f"exec(zlib.decompress(sys.stdin.buffer.read({program_size})))")
    script = (f'r=missing; if command -v python3 >/dev/null 2>&1; then python3 -c "{loader}"; s=$?; '
              f'[ $s -eq 97 ] || exit $s; r=old; fi; echo {ps_text.HEADER.decode()} $r $$; '
              f"while :; do {ps_text.PS_COMMAND} || exit 127; echo {ps_text.END_MARK.decode()}; "
              f"sleep {max(1, round(interval))}; done")
    assert "'" not in script
    return f"sh -c '{script}'"


def ssh_argv(host: HostSpec, options: SshOptions, command: str) -> list[str]:
    argv = [options.program, "-T", "-x", "-a", "-e", "none",
            "-o", f"ConnectTimeout={max(1, round(options.connect_timeout))}",
            "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3"]
    if options.batch_mode:
        argv += ["-o", "BatchMode=yes"]
    if options.config:
        argv += ["-F", options.config]
    for option in (*host.ssh_options, *options.extra):  # the host's own first: ssh keeps the first value
        argv += ["-o", option]
    if host.port is not None:
        argv += ["-p", str(host.port)]
    if host.user:
        argv += ["-l", host.user]
    return [*argv, "--", host.host, command]


def ssh_failure(returncode: int | None, stderr: str) -> str:
    """One line saying why ssh or the remote command ended, from its status and what it said on stderr (ssh's
    own words and the remote's share that stream: ssh's are looked for only when ssh itself failed, status 255)."""
    if returncode is not None and returncode < 0:
        return words.ssh_killed(signal.Signals(-returncode).name if -returncode in signal.valid_signals() else
                                str(-returncode))
    if returncode == 255:
        said = stderr.lower()
        for needle, message_id in words.SSH_FAILURES:
            if needle in said:
                return t(message_id)
    if returncode == 127:
        return t("remote.nothing_to_run")
    last = [line for line in stderr.splitlines() if line.strip()]
    if last:
        return words.ssh_said(printable(last[-1].strip())[:200])
    return words.ssh_ended(returncode)


class RemoteError(Exception):
    """The remote cannot be watched; str(error) is one line."""


@dataclass(frozen=True)
class HostStatus:
    state: str  # "connecting", "connected", "disconnected", "closed"
    reason: str = ""  # why it is disconnected
    mode: str = ""  # "python" or "ps"
    python: str = ""  # the remote's version
    since: float = 0.0  # monotonic time of the last change
    retry_at: float | None = None  # monotonic time of the next attempt


class RemoteCollector:
    """Collects the processes of one remote host through one ssh connection (a Collector: `sweep()`).

    A thread runs ssh and reads what the agent sends; `sweep()` returns the latest snapshot at once (the agent
    sweeps on its own clock), so a slow host never blocks anybody. The first `sweep()` waits for the first
    snapshot, up to `first_timeout`. With `reconnect`, a dropped connection is tried again after 1, 2, 5, 10 then
    every 30 s; without it, the first failure is final (`--once`)."""

    def __init__(self, host: HostSpec, interval: float = 1.0, options: SshOptions | None = None,
                 reconnect: bool = False, first_timeout: float | None = None, host_in_notes: bool = False,
                 on_change: Callable[[HostStatus | None], None] | None = None) -> None:
        """on_change: called from the connection thread with the new status on each change, and with None when a
        snapshot arrived (--watch across hosts waits on one queue for all of them)."""
        self.host, self.interval = host, interval
        self.on_change = on_change
        self.host_in_notes = host_in_notes  # the TUI's tree shows its notes above it: the host's name and state
        self.options = options or SshOptions()
        self.reconnect = reconnect
        self.first_timeout = first_timeout if first_timeout is not None else self.options.connect_timeout + 20
        self.status = HostStatus("connecting", since=time.monotonic())
        self.bytes_received = 0
        self.snapshots_received = 0
        self.received_at: float | None = None  # monotonic time the latest snapshot arrived (remote clocks differ)
        self._latest: Snapshot | None = None
        self._changed = threading.Condition()
        self._closed = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._stdin_lock = threading.Lock()
        self._replies: dict[int, tuple[str, str]] = {}
        self._pending: set[int] = set()  # requests sent and not answered: any other reply breaks the protocol
        self._request = 0
        self._thread = threading.Thread(target=self._run, name=f"procwatch-host-{host.label}", daemon=True)
        self._started = False
        self._notes: tuple[str, ...] = ()  # what the agent's greeting says (hidepid...)
        self._ps_note = ""
        self._agent_pid: int | None = None  # the remote's pid of the agent (python), or of the shell running ps

    # -- the Collector side ---------------------------------------------------------------------------------
    def start(self) -> RemoteCollector:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def sweep(self) -> Snapshot:
        self.start()
        with self._changed:
            self._changed.wait_for(lambda: self._latest is not None or self._final(), timeout=self.first_timeout)
            latest, status = self._latest, self.status
        if not self.host_in_notes:
            if latest is None:
                raise RemoteError(status.reason or t("remote.no_answer"))
            return latest
        host_line = words.host_line(self.host.label, status)
        if latest is None:  # the TUI: nothing yet (or never): an empty tree under the host's state, at once
            return Snapshot(procs={}, taken_at=time.time(), notes=(host_line,))
        return replace(latest, notes=(host_line, *latest.notes))

    def latest(self) -> Snapshot | None:
        return self._latest

    def _final(self) -> bool:
        return self.status.state == "closed" or (self.status.state == "disconnected" and not self.reconnect)

    def close(self) -> None:
        self._closed.set()
        self._end_process()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._set_status(HostStatus("closed", reason=self.status.reason, since=time.monotonic()))

    def __enter__(self) -> RemoteCollector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- signals ----------------------------------------------------------------------------------------------
    def signal_process(self, identity: Identity, signo: int, timeout: float = 10.0) -> None:
        """Send signo to the remote process with this identity (pid + start time checked there through a pidfd),
        or raise SignalRefused as a local signal does."""
        pid, start_ticks = identity
        if self.status.mode != "python":
            raise SignalRefused("unopenable", pid, t("remote.signal_needs_python"))
        with self._changed:
            self._request += 1
            request = self._request
            self._pending.add(request)
        try:
            self._send(["signal", request, pid, start_ticks, signo])
        except OSError:
            raise SignalRefused("unopenable", pid, t("remote.not_connected")) from None
        with self._changed:
            answered = self._changed.wait_for(lambda: request in self._replies or self.status.state != "connected",
                                              timeout=timeout)
            self._pending.discard(request)
            answer = self._replies.pop(request, None)
        if not answered:
            raise SignalRefused("unopenable", pid, t("remote.no_reply"))
        if answer is None:
            raise SignalRefused("unopenable", pid, t("remote.not_connected"))
        outcome, detail = answer
        if outcome != "sent":
            raise SignalRefused(outcome if outcome in SignalRefused.REASONS else "unopenable", pid, detail)

    def _send(self, message: object) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or self.status.state != "connected":
            raise OSError("not connected")
        with self._stdin_lock:
            proc.stdin.write(wire.encode(message))
            proc.stdin.flush()

    # -- the connection thread --------------------------------------------------------------------------------
    def _set_status(self, status: HostStatus) -> None:
        with self._changed:
            self.status = status
            self._changed.notify_all()
        if self.on_change is not None:
            self.on_change(status)

    def own_pids(self, procs: Mapping[int, ProcInfo]) -> frozenset[int]:
        """procwatch's own processes on the remote, in this snapshot: the agent, or the shell running ps and its
        ps, and the shells above that run procwatch's remote command (a check does not count itself; --watch does
        not report its own ps every sweep). The pid is the remote's word: it only ever hides processes."""
        pid = self._agent_pid
        if pid is None or pid not in procs:
            return frozenset()
        own = {pid}
        if self.status.mode == "ps":  # pid is the shell's: its children are the ps (and sleep) it runs
            own.update(p.pid for p in procs.values() if p.ppid == pid)
        parent = procs.get(procs[pid].ppid)
        while parent is not None and parent.pid not in own and ps_text.HEADER.decode() in parent.cmdline:
            own.add(parent.pid)  # sh -c '...', and a login shell's -c around it when it did not exec
            parent = procs.get(parent.ppid)
        return frozenset(own)

    def _run(self) -> None:
        attempt = 0
        while not self._closed.is_set():
            self._set_status(HostStatus("connecting", since=time.monotonic()))
            received_before = self.snapshots_received
            reason = self._session()
            if self._closed.is_set():
                break
            if self.snapshots_received > received_before:
                attempt = 0  # it worked for a while: start the backoff again
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            retry_at = time.monotonic() + delay if self.reconnect else None
            self._set_status(HostStatus("disconnected", reason=reason, since=time.monotonic(), retry_at=retry_at))
            if not self.reconnect or self._closed.wait(delay):
                break

    def _session(self) -> str:
        """One ssh connection, until it ends; returns why it ended (one line)."""
        program = agent_program(self.interval)
        argv = ssh_argv(self.host, self.options, remote_command(len(program), self.interval))
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)  # no terminal: ssh cannot prompt, ^C is not its
        except OSError as error:
            return words.ssh_cannot_start(self.options.program, error.strerror or str(error))
        self._proc = proc
        stderr_tail: collections.deque[bytes] = collections.deque(maxlen=64)
        stderr_reader = threading.Thread(target=self._read_stderr, args=(proc, stderr_tail), daemon=True)
        stderr_reader.start()
        protocol_error = None
        try:
            assert proc.stdin is not None and proc.stdout is not None
            with contextlib.suppress(OSError), self._stdin_lock:
                proc.stdin.write(program)  # fits in the pipe: the write does not wait for the remote
                proc.stdin.flush()
            self._read(wire.LineReader(proc.stdout))
        except wire.WireError as error:
            protocol_error = str(error)
        except OSError as error:
            protocol_error = error.strerror or str(error)
        finally:
            self._end_process()
            stderr_reader.join(timeout=2)
        if protocol_error is not None:
            return words.remote_disconnected(protocol_error)
        stderr = b"".join(stderr_tail)[-STDERR_TAIL:].decode("utf-8", "replace")
        return ssh_failure(proc.returncode, stderr)

    @staticmethod
    def _read_stderr(proc: subprocess.Popen, tail: collections.deque[bytes]) -> None:
        assert proc.stderr is not None
        with contextlib.suppress(OSError, ValueError):
            while True:
                chunk = proc.stderr.read1(4096)  # type: ignore[attr-defined]
                if not chunk:
                    break
                tail.append(chunk)

    def _end_process(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.close()  # the agent ends on end-of-file
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)  # its own session: ssh and a ProxyCommand it started
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()

    def _read(self, reader: wire.LineReader) -> None:
        """Read until the stream ends (returns) or breaks the protocol (WireError)."""
        first = self._greeting(reader)
        if first is None:
            return
        recent: collections.deque[float] = collections.deque(maxlen=FLOOD_SNAPSHOTS)
        if first == "ps":
            read_one = self._ps_reader(reader)
        else:
            read_one = self._agent_reader(reader)
        while not self._closed.is_set():
            before = reader.bytes_read
            snapshot = read_one()
            if snapshot is None:
                return
            self.bytes_received = reader.bytes_read
            if reader.bytes_read - before > MAX_SNAPSHOT_BYTES:
                raise wire.WireError(f"the remote sent a snapshot larger than {MAX_SNAPSHOT_BYTES >> 20} MiB")
            now = time.monotonic()
            recent.append(now)
            if len(recent) == FLOOD_SNAPSHOTS and now - recent[0] < FLOOD_SECONDS:
                raise wire.WireError("the remote floods: far more snapshots than asked for")
            with self._changed:
                self._latest = snapshot
                self.received_at = now
                self.snapshots_received += 1
                self._changed.notify_all()
            if self.on_change is not None:
                self.on_change(None)

    def _greeting(self, reader: wire.LineReader) -> str | None:
        """Skip what a login shell may print first; returns "python" or "ps", or None at end of stream."""
        for _ in range(NOISE_LINES):
            line = reader.next()
            self.bytes_received = reader.bytes_read
            if line is None:
                return None
            if line.startswith(ps_text.HEADER):
                why, _, shell = line[len(ps_text.HEADER):].strip().decode("ascii", "replace").partition(" ")
                self._agent_pid = int(shell) if shell.isdigit() and len(shell) < 10 else None
                self._ps_note = words.ps_fallback_note(why == "old")
                self._set_status(HostStatus("connected", mode="ps", since=time.monotonic()))
                return "ps"
            if line.startswith((b'["hello"', b'["error"')):
                message = wire.parse_line(line)
                if isinstance(message, list) and message and message[0] == "error":
                    raise wire.WireError(printable(str(message[1]))[:200] if len(message) > 1 else "error")
                info = wire.check_hello(message)
                notes = info.get("notes", [])
                self._notes = tuple(str(n) for n in notes) if isinstance(notes, list) else ()
                python = printable(str(info.get("python", "?")))[:20]
                pid = info.get("pid")
                self._agent_pid = pid if type(pid) is int and 0 < pid < 1 << 31 else None
                self._set_status(HostStatus("connected", mode="python", python=python, since=time.monotonic()))
                return "python"
        raise wire.WireError("the remote did not greet as procwatch's agent")

    def _agent_reader(self, reader: wire.LineReader):
        decoder = wire.DeltaDecoder(self._notes)

        def read_one() -> Snapshot | None:
            while True:
                line = reader.next()
                if line is None:
                    return None
                message = wire.parse_line(line)
                if not (type(message) is list and message):
                    raise wire.WireError("the remote sent something that is not procwatch's protocol")
                kind = message[0]
                if kind == "snap":
                    return decoder.read_snapshot(message, reader.next)
                if kind == "reply" and len(message) == 4 and type(message[1]) is int and type(message[2]) is str:
                    with self._changed:
                        if message[1] not in self._pending or message[1] in self._replies:
                            raise wire.WireError("the remote answered a request procwatch did not make")
                        self._replies[message[1]] = (message[2][:20], printable(str(message[3]))[:200])
                        self._changed.notify_all()
                    continue
                if kind == "error" and len(message) == 2:
                    raise wire.WireError(printable(str(message[1]))[:200])
                raise wire.WireError("the remote sent something that is not procwatch's protocol")

        return read_one

    def _ps_reader(self, reader: wire.LineReader):
        notes = (self._ps_note,)
        last: dict[int, ProcInfo] = {}

        def read_one() -> Snapshot | None:
            nonlocal last
            started = time.monotonic()
            procs: dict[int, ProcInfo] = {}
            while True:
                line = reader.next()
                if line is None:
                    return None
                if line.rstrip(b"\n") == ps_text.END_MARK:
                    last = procs
                    return Snapshot(procs=procs, taken_at=time.time(), sweep_seconds=time.monotonic() - started,
                                    notes=notes)
                record = ps_text.steady(ps_text.parse_line(line), last.get)
                procs[record.pid] = record
                if len(procs) > wire.MAX_PROCS:
                    raise wire.WireError(f"the remote claims more than {wire.MAX_PROCS} processes")

        return read_one
