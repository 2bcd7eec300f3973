"""The sandbox's wire format, defined once: one JSON object per line, on three pipes.

    procwatch  --(supervisor's stdin:  commands)-->  supervisor
    procwatch  <--(supervisor's stdout: replies, events)--  supervisor
    supervisor <--(report pipe, shared by every demo: reports)--  demos

Each message is a NamedTuple below (cheap to define: the supervisor imports this at start-up); its field names are
the JSON keys, and its family's tag key (OPS, EVENTS, REPORTS) says which message a line holds:

  commands, tag "op", in an envelope {"id": n, "op": ..., fields}   (encode_command / decode_command)
      {"op": "spawn", "recipe": key}
      {"op": "signal", "action": "stop"|"cont"|"kill", "pid": p, "start": t|null}
      {"op": "reap"|"parent_exit", "pid": p, "start": t|null}
      {"op": "kill_all"} · {"op": "close"}
  replies, no tag: {"reply": n|null, "ok": bool, "demo": demo record|null, "error": s|null}
  events, tag "event"
      {"event": "hello", "pid": p, "start": t} · {"event": "narrate", "text": s, "pid": p|null}
      {"event": "added", "demo": demo record} · {"event": "removed", "pid": p, "start": t}
      {"event": "bye", "reason": s}
  reports, tag "t" (g: the spawn's group number)
      {"t": "say", "g": g, "pid": p, "text": s}        narration, in a demo's own words
      {"t": "ready", "g": g, "main": p, "procs": [process record, ...]}   the demo is in place
      {"t": "refused", "g": g, "reason": s}             not permitted here (one line)
      {"t": "gone", "g": g, "pid": p, "status": n}      a demo parent reaped its own child
  process record = {"pid", "start", "role", "stat", "desc", "parent"}
  demo record    = {"pid", "start", "recipe", "role", "stat", "desc", "parent", "group", "main"}
  start is always /proc/PID/stat field 22 (clock ticks after boot): with the pid, a process's identity.

A line is at most MAX_LINE bytes, newline included: PIPE_BUF, so the report lines several demos write to one pipe
never interleave. Free text (narration, reasons, errors) is clipped to MAX_TEXT characters, so that every message
fits. Standard library only: demos are forked from the supervisor and use it too.
"""

from __future__ import annotations

import json
import select
from typing import Any, NamedTuple

MAX_LINE = select.PIPE_BUF  # 4096 on Linux: a write of at most this many bytes to a pipe is atomic
MAX_TEXT = 512  # characters; JSON escapes a character in at most 6 bytes, so 512 of them leave room for the rest

ACTIONS = ("stop", "cont", "kill")  # the `action` of a signal command


class ProtocolError(ValueError):
    """A line that is not a message of its pipe. `request`: the command's id when it could be read."""

    def __init__(self, message: str, request: int | None = None) -> None:
        super().__init__(message)
        self.request = request


def clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


# ---------------------------------------------------------------- records


class ProcRecord(NamedTuple):
    """One process of a demo, as the demo reports it."""

    pid: int
    start: int | None  # None when it vanished before its start time could be read (the supervisor skips it)
    role: str  # "demo" (a one-process demo), "parent", "child" or "orphan"
    stat: str  # what `ps -o stat=` shows for it
    desc: str  # which STAT letter/flag it shows and why
    parent: int | None  # its parent pid when the demo got ready


class DemoRecord(NamedTuple):
    """A process record as the supervisor keeps it and tells procwatch: plus its recipe, group, and whether it is
    the process the recipe is about."""

    pid: int
    start: int
    recipe: str
    role: str
    stat: str
    desc: str
    parent: int | None
    group: int
    main: bool

    @classmethod
    def of(cls, proc: ProcRecord, start: int, recipe: str, group: int, main: bool) -> DemoRecord:
        return cls(proc.pid, start, recipe, proc.role, proc.stat, proc.desc, proc.parent, group, main)


# ---------------------------------------------------------------- commands: procwatch -> supervisor


class Spawn(NamedTuple):
    recipe: str


class SendSignal(NamedTuple):
    action: str  # one of ACTIONS
    pid: int
    start: int | None = None  # the identity the caller means; None: whatever demo has this pid


class Reap(NamedTuple):
    """The zombie's parent calls wait() (pid: the zombie or its parent)."""

    pid: int
    start: int | None = None


class ParentExit(NamedTuple):
    """The zombie's parent exits without wait() (pid: the zombie or its parent)."""

    pid: int
    start: int | None = None


class KillAll(NamedTuple):
    pass


class Close(NamedTuple):
    pass


Command = Spawn | SendSignal | Reap | ParentExit | KillAll | Close
OPS: dict[str, type[Command]] = {"spawn": Spawn, "signal": SendSignal, "reap": Reap, "parent_exit": ParentExit,
                                 "kill_all": KillAll, "close": Close}


# ---------------------------------------------------------------- replies and events: supervisor -> procwatch


class Reply(NamedTuple):
    """The answer to one command. A spawn is answered once its demo is in place (demo set) or refused."""

    reply: int | None  # the id of the command answered; None when the command could not be read
    ok: bool
    demo: DemoRecord | None = None
    error: str | None = None  # one line, when not ok


class Hello(NamedTuple):
    pid: int
    start: int | None


class Narrate(NamedTuple):
    text: str
    pid: int | None = None


class Added(NamedTuple):
    demo: DemoRecord


class Removed(NamedTuple):
    pid: int
    start: int


class Bye(NamedTuple):
    """The supervisor is about to exit on purpose (procwatch tells a crash by its absence)."""

    reason: str


Event = Hello | Narrate | Added | Removed | Bye
EVENTS: dict[str, type[Event]] = {"hello": Hello, "narrate": Narrate, "added": Added, "removed": Removed,
                                  "bye": Bye}
ToProcwatch = Reply | Event


# ---------------------------------------------------------------- reports: demos -> supervisor


class Say(NamedTuple):
    g: int
    pid: int
    text: str


class Ready(NamedTuple):
    g: int
    main: int  # the pid of the process the recipe is about
    procs: list[ProcRecord]


class Refused(NamedTuple):
    g: int
    reason: str


class Gone(NamedTuple):
    g: int
    pid: int
    status: int  # as wait() returned it


Report = Say | Ready | Refused | Gone
REPORTS: dict[str, type[Report]] = {"say": Say, "ready": Ready, "refused": Refused, "gone": Gone}

COMMAND_TAG, EVENT_TAG, REPORT_TAG = "op", "event", "t"
_TAG: dict[type, tuple[str, str]] = {
    **{cls: (COMMAND_TAG, kind) for kind, cls in OPS.items()},
    **{cls: (EVENT_TAG, kind) for kind, cls in EVENTS.items()},
    **{cls: (REPORT_TAG, kind) for kind, cls in REPORTS.items()},
}
_NESTED: dict[tuple[type, str], type] = {(Reply, "demo"): DemoRecord, (Added, "demo"): DemoRecord,
                                         (Ready, "procs"): ProcRecord}
_TEXT: dict[type, str] = {Reply: "error", Narrate: "text", Bye: "reason", Say: "text", Refused: "reason"}


# ---------------------------------------------------------------- one line


def _wire(value: Any) -> Any:
    if hasattr(value, "_asdict"):
        return {name: _wire(v) for name, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_wire(v) for v in value]
    return value


def _body(message: NamedTuple) -> dict[str, Any]:
    body = _wire(message)
    text = _TEXT.get(type(message))
    if text is not None and isinstance(body[text], str):
        body[text] = clip(body[text])
    return body


def _line(obj: dict[str, Any]) -> bytes:
    data = (json.dumps(obj) + "\n").encode()
    if len(data) > MAX_LINE:
        raise ProtocolError(f"message of {len(data)} bytes, more than MAX_LINE ({MAX_LINE})")
    return data


def encode(message: ToProcwatch | Report) -> bytes:
    """One line (newline included) for a reply, an event or a report; free text clipped to MAX_TEXT.
    Raises ProtocolError when still longer than MAX_LINE."""
    tagged = _TAG.get(type(message))
    return _line({tagged[0]: tagged[1], **_body(message)} if tagged else _body(message))


def encode_command(request: int, command: Command) -> bytes:
    """One line for a command; `request` comes back as the reply's `reply`."""
    tag, kind = _TAG[type(command)]
    return _line({"id": request, tag: kind, **_body(command)})


def _object(line: bytes | str) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise ProtocolError(f"line longer than MAX_LINE ({MAX_LINE} bytes)")
    try:
        obj = json.loads(line)
    except ValueError:
        raise ProtocolError("not JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError("not a JSON object")
    return obj


def _build(cls: Any, obj: Any, kind: str) -> Any:
    if not isinstance(obj, dict):
        raise ProtocolError(f"{kind!r} is not a JSON object")
    kwargs: dict[str, Any] = {}
    for name in cls._fields:
        if name in obj:
            value = obj[name]
            inner = _NESTED.get((cls, name))
            if inner is not None and value is not None:
                what = f"{kind}.{name}"
                value = ([_build(inner, v, what) for v in value] if isinstance(value, list)
                         else _build(inner, value, what))
            kwargs[name] = value
        elif name not in cls._field_defaults:
            raise ProtocolError(f"{kind!r} without {name!r}")
    return cls(**kwargs)


def decode_command(line: bytes | str) -> tuple[int | None, Command]:
    """(request id, command) from one line. Raises ProtocolError (with .request when the id was readable)."""
    try:
        obj = _object(line)
    except ProtocolError:
        raise ProtocolError("malformed command") from None
    request = obj.get("id")
    request = request if isinstance(request, int) else None
    op = obj.get(COMMAND_TAG)
    if not isinstance(op, str) or op not in OPS:
        raise ProtocolError(f"unknown command {op!r}", request)
    try:
        return request, _build(OPS[op], obj, op)
    except ProtocolError as exc:
        raise ProtocolError(f"malformed command: {exc}", request) from None


def decode(line: bytes | str) -> ToProcwatch:
    """A reply or an event from one line of the supervisor's stdout. Raises ProtocolError."""
    obj = _object(line)
    if "reply" in obj:
        return _build(Reply, obj, "reply")
    kind = obj.get(EVENT_TAG)
    if not isinstance(kind, str) or kind not in EVENTS:
        raise ProtocolError(f"unknown event {kind!r}")
    return _build(EVENTS[kind], obj, kind)


def decode_report(line: bytes | str) -> Report:
    """A demo's report from one line of the report pipe. Raises ProtocolError."""
    obj = _object(line)
    kind = obj.get(REPORT_TAG)
    if not isinstance(kind, str) or kind not in REPORTS:
        raise ProtocolError(f"unknown report {kind!r}")
    return _build(REPORTS[kind], obj, kind)


def split_lines(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The complete lines in `buffer` (without newlines, blank ones dropped) and what is left after the last one.
    A remainder longer than MAX_LINE cannot become a valid line: it comes out as a line (which decoding rejects)."""
    *lines, rest = buffer.split(b"\n")
    lines = [line for line in lines if line.strip()]
    if len(rest) > MAX_LINE:
        lines.append(rest)
        rest = b""
    return lines, rest
