"""The remote collector's wire format: JSON Lines, one message per line. Standard library only: this module
travels to the remote with the agent (procwatch.engine.agent), which encodes; the local side decodes.

The remote is untrusted. Everything read from it is bounded and checked before it becomes a ProcInfo:
- a line is at most MAX_LINE bytes (the agent cuts argv to MAX_ARGV characters, so an honest line is far shorter);
- a snapshot announces its record count (at most MAX_PROCS), and its records follow it, one per line;
- every record is checked field by field (type, range, length) against the ProcInfo schema;
- a delta before the first full snapshot, an unknown message, or bad JSON is an error.
Any breach raises WireError with a one-line reason; the caller disconnects. Names are kept as sent and escaped
where they are drawn, exactly as for local processes (procwatch.engine.escape).

Messages (remote -> local), each a JSON array whose first item names it:
  ["hello", PROTOCOL, {"python": "3.11.2", "kernel": "...", "notes": [...]}]
  ["snap", taken_at, sweep_seconds, full (0|1), count, [gone pids]]   then `count` record lines
  ["reply", request_id, "sent" | refusal reason, detail]
  ["error", text]
A record is the ProcInfo fields in order, as a JSON array; in a delta, argv is null when it is that of the record
last sent for the same pid and start time (most changes are CPU time and state: long command lines stay home).
Commands (local -> remote), on the agent's stdin, one per line:
  ["signal", request_id, pid, start_ticks, signo]
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import IO

from procwatch.engine.model import ProcInfo, Snapshot

PROTOCOL = 1
MAX_LINE = 256 * 1024  # bytes in one line
MAX_ARGV = 32 * 1024  # characters of argv the agent sends per process (escaped, a line stays under MAX_LINE)
MAX_CGROUP = 4096  # characters of a cgroup path (PATH_MAX)
MAX_NAME = 256  # characters in a user name or comm (comm is 15 bytes on Linux; a few escapes allowed)
MAX_PROCS = 1 << 18  # records in one snapshot (pid_max is at most 2**22; 262,144 processes is already absurd)
MAX_ID = (1 << 63) - 1
STATE_CHARS = frozenset("RSDTtZXIWPK")

_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), check_circular=False).encode
_decode = json.JSONDecoder().decode


class WireError(Exception):
    """The remote broke the protocol; str(error) is one line to show."""


# ---------------------------------------------------------------- encoding (the agent's side)


def encode(message: object) -> bytes:
    return _encode(message).encode("ascii") + b"\n"


def cut_argv(argv: tuple[str, ...], limit: int = MAX_ARGV) -> tuple[str, ...]:
    """argv cut to `limit` characters in all (whole arguments kept while they fit, then one cut argument)."""
    total = 0
    for i, arg in enumerate(argv):
        total += len(arg)
        if total > limit:
            return (*argv[:i], arg[: max(0, limit - (total - len(arg)))])
    return argv


class DeltaEncoder:
    """Turns successive snapshots into wire messages: the first whole, then only the records that changed and
    the pids that went away. The collector reuses the very record object of an idle process, so most records are
    told apart by identity without comparing fields."""

    def __init__(self) -> None:
        self._sent: dict[int, ProcInfo] = {}

    def encode(self, snapshot: Snapshot) -> bytes:
        sent, new = self._sent, {}
        changed = []
        for pid, record in snapshot.procs.items():
            new[pid] = record
            old = sent.get(pid)
            if old is not record and old != record:
                changed.append(record)
        gone = [pid for pid in sent if pid not in new]
        full = not sent
        self._sent = new
        lines = [_encode(["snap", snapshot.taken_at, snapshot.sweep_seconds, int(full), len(changed), gone])]
        for record in changed:
            old = sent.get(record.pid)
            if old is not None and old.argv == record.argv and old.start_ticks == record.start_ticks:
                fields: list[object] = list(record)
                fields[18] = None  # the same command line: not sent again
                lines.append(_encode(fields))
                continue
            argv = record.argv
            if sum(map(len, argv)) > MAX_ARGV:
                record = record._replace(argv=cut_argv(argv))
            lines.append(_encode(record))
        lines.append("")
        return "\n".join(lines).encode("ascii")


# ---------------------------------------------------------------- decoding (the local side)


def _int(low: int, high: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high  # no bool, no float


def _text(limit: int) -> Callable[[object], bool]:
    return lambda v: type(v) is str and len(v) <= limit


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _bool(v: object) -> bool:
    return type(v) is bool


def _state(v: object) -> bool:
    return type(v) is str and v in STATE_CHARS


def _argv(v: object) -> bool:
    return type(v) is list and all(type(a) is str for a in v) and sum(map(len, v)) <= MAX_ARGV


# One check per ProcInfo field, in order.
RECORD_SCHEMA: tuple[tuple[str, Callable[[object], bool]], ...] = (
    ("pid", _int(1, 1 << 31)), ("ppid", _int(0, 1 << 31)), ("start_ticks", _int(0, MAX_ID)),
    ("uid", _int(-1, 1 << 32)), ("user", _text(MAX_NAME)), ("state", _state), ("nice", _int(-20, 19)),
    ("threads", _int(0, 1 << 31)), ("session", _int(-1, 1 << 31)), ("pgrp", _int(-1, 1 << 31)),
    ("tpgid", _int(-1, 1 << 31)), ("tty_nr", _int(0, 1 << 32)), ("locked_kb", _int(0, MAX_ID)),
    ("exit_code", _int(0, 1 << 16)), ("rss", _int(0, MAX_ID)), ("cpu_ticks", _int(0, MAX_ID)),
    ("cpu_percent", _number), ("name", _text(MAX_NAME)), ("argv", _argv), ("kernel_thread", _bool),
    ("started", _number), ("vsz", _int(0, MAX_ID)), ("cgroup", _text(MAX_CGROUP)),
)
assert tuple(name for name, _ in RECORD_SCHEMA) == ProcInfo._fields


def parse_record(value: object, previous: Mapping[int, ProcInfo] | None = None) -> ProcInfo:
    """A checked ProcInfo. `previous`: the records known so far, for a delta's unchanged argv (null)."""
    if type(value) is not list or len(value) != len(RECORD_SCHEMA):
        raise WireError("a process record is not a list of the expected length")
    if value[18] is None and previous is not None and type(value[0]) is int:
        old = previous.get(value[0])
        if old is None or old.start_ticks != value[2]:
            raise WireError("a process record refers to a command line never sent")
        value[18] = list(old.argv)
    for (name, check), item in zip(RECORD_SCHEMA, value, strict=True):
        if not check(item):
            raise WireError(f"a process record has a bad {name}")
    value[18] = tuple(value[18])
    return ProcInfo._make(value)


def parse_line(line: bytes) -> object:
    try:
        return _decode(line.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WireError("the remote sent something that is not procwatch's protocol") from None


class LineReader:
    """Lines from a byte stream, each at most `limit` bytes. EOF in the middle of a line is an error (a stream
    cut mid-line), EOF between lines returns None."""

    def __init__(self, stream: IO[bytes], limit: int = MAX_LINE) -> None:
        self.stream, self.limit = stream, limit
        self.bytes_read = 0

    def next(self) -> bytes | None:
        line = self.stream.readline(self.limit + 1)
        self.bytes_read += len(line)
        if not line:
            return None
        if not line.endswith(b"\n"):
            if len(line) > self.limit:
                raise WireError(f"the remote sent a line longer than {self.limit // 1024} KiB")
            raise WireError("the remote stopped in the middle of a line")
        return line


class DeltaDecoder:
    """Applies snapshot messages to the last known set of processes; returns whole Snapshots."""

    def __init__(self, notes: Iterable[str] = ()) -> None:
        self.procs: dict[int, ProcInfo] = {}
        self.started = False
        self.notes = tuple(notes)

    def read_snapshot(self, header: list, next_line: Callable[[], bytes | None]) -> Snapshot:
        if len(header) != 6:
            raise WireError("a snapshot header has the wrong length")
        _, taken_at, sweep_seconds, full, count, gone = header
        if not (_number(taken_at) and _number(sweep_seconds) and full in (0, 1) and _int(0, MAX_PROCS)(count)
                and type(gone) is list and len(gone) <= MAX_PROCS and all(type(p) is int for p in gone)):
            raise WireError("a snapshot header is malformed")
        if not full and not self.started:
            raise WireError("the remote sent changes before a whole snapshot")
        procs = {} if full else dict(self.procs)
        for pid in gone:
            procs.pop(pid, None)
        for _ in range(count):
            line = next_line()
            if line is None:
                raise WireError("the remote stopped in the middle of a snapshot")
            record = parse_record(parse_line(line), None if full else self.procs)
            procs[record.pid] = record
        if len(procs) > MAX_PROCS:
            raise WireError(f"the remote claims more than {MAX_PROCS} processes")
        self.procs, self.started = procs, True
        return Snapshot(procs=procs, taken_at=float(taken_at), sweep_seconds=float(sweep_seconds), notes=self.notes)


def check_hello(message: object) -> Mapping[str, object]:
    if not (type(message) is list and len(message) == 3 and message[0] == "hello" and type(message[2]) is dict):
        raise WireError("the remote did not greet as procwatch's agent")
    if message[1] != PROTOCOL:
        raise WireError(f"the remote speaks protocol {message[1]!r}, not {PROTOCOL}")
    info: dict = message[2]
    notes = info.get("notes", [])
    if type(notes) is not list or len(notes) > 16 or not all(type(n) is str and len(n) <= 500 for n in notes):
        raise WireError("the remote's greeting is malformed")
    return info
