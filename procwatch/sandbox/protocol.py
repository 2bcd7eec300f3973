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
      {"event": "hello", "pid": p, "start": t}
      {"event": "added", "demo": demo record} · {"event": "removed", "pid": p, "start": t}
      {"event": "bye", "reason": s}
  reports, tag "t" (g: the spawn's group number)
      {"t": "ready", "g": g, "main": p, "procs": [process record, ...]}   the demo is in place
      {"t": "refused", "g": g, "reason": s}             not permitted here (one line)
      {"t": "gone", "g": g, "pid": p, "status": n}      a demo parent reaped its own child
      {"t": "let_orphan_go", "g": g, "middle": p, "orphan": p}   clear the subreaper flag while middle exits
  story events, tag "story": what a demo or the supervisor just did, as typed values, never sentences
      {"story": "ForkReturned", "side": "parent"|"child", "returned": n, "getpid": p, "getppid": p, "call": s}
      {"story": "ExitCalled", "pid": p, "call": "os._exit"|"sys.exit", "arg": ...} · {"story": "WaitReturned", ...}
      ... one kind per class in STORY below (the tag is the class name). Demos write them to the report pipe;
      the supervisor writes its own and forwards the demos' to procwatch unchanged. Words are made at the edge
      (procwatch.engine.words.sandbox_line), one phrase per kind.
  process record = {"pid", "start", "role", "stat", "says", "fields", "parent"}
  demo record    = {"pid", "start", "recipe", "role", "stat", "says", "fields", "parent", "group", "main"}
  start is always /proc/PID/stat field 22 (clock ticks after boot): with the pid, a process's identity.
  says + fields: what this one process is, beyond its recipe's description, as a message id and its values,
  never a sentence: says is "" (the recipe's description says it all) or an id of the catalogue's
  "sandbox.proc." family; fields is a flat {name: string | integer | float} object, the values its phrase names:
      {"says": "sandbox.proc.cow_parent", "fields": {"a": 1}}
  procwatch says it when it shows it, in the language of that moment (procwatch.engine.words.demo_fact).
  A record is kept whatever these two hold: decoding keeps says only if it is a string of at most MAX_SAYS
  characters (else ""), and of fields only the entries named by an identifier whose value is such a scalar (at
  most MAX_FIELDS, strings clipped to MAX_TEXT); an id outside that family or unknown to the catalogue, or fields
  its phrase cannot take, are said as a neutral phrase.

A line is at most MAX_LINE bytes, newline included: PIPE_BUF, so the report lines several demos write to one pipe
never interleave. Free text (reasons, errors, a child's output) is clipped to MAX_TEXT characters, so that every message
fits. Standard library only: demos are forked from the supervisor and use it too.
"""

from __future__ import annotations

import json
import select
from typing import Any, NamedTuple

MAX_LINE = select.PIPE_BUF  # 4096 on Linux: a write of at most this many bytes to a pipe is atomic
MAX_TEXT = 512  # characters; JSON escapes a character in at most 6 bytes, so 512 of them leave room for the rest
MAX_SAYS = 100  # characters of a process record's message id
MAX_FIELDS = 8  # values a process record carries at most

ACTIONS = ("stop", "cont", "kill")  # the `action` of a signal command


class ProtocolError(ValueError):
    """A line that is not a message of its pipe. `request`: the command's id when it could be read."""

    def __init__(self, message: str, request: int | None = None) -> None:
        super().__init__(message)
        self.request = request


def clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


# ---------------------------------------------------------------- records

Scalar = str | int | float  # a value of a record's fields


def says_id(value: Any) -> str:
    """A record's `says` as procwatch keeps it: a string of at most MAX_SAYS characters, else "" (nothing)."""
    return value if isinstance(value, str) and len(value) <= MAX_SAYS else ""


def scalar_fields(value: Any) -> dict[str, Scalar]:
    """A record's `fields` as procwatch keeps them: at most MAX_FIELDS entries named by an identifier, each a
    string (clipped to MAX_TEXT), an integer or a float; anything else is left out (not a dict: none)."""
    if not isinstance(value, dict):
        return {}
    kept: dict[str, Scalar] = {}
    for name, v in value.items():
        if len(kept) == MAX_FIELDS:
            break
        if not (isinstance(name, str) and name.isidentifier()) or isinstance(v, bool):
            continue
        if isinstance(v, str):
            kept[name] = clip(v)
        elif isinstance(v, (int, float)):
            kept[name] = v
    return kept


class ProcRecord(NamedTuple):
    """One process of a demo, as the demo reports it."""

    pid: int
    start: int | None  # None when it vanished before its start time could be read (the supervisor skips it)
    role: str  # "demo" (a one-process demo), "parent", "child" or "orphan"
    stat: str  # what `ps -o stat=` shows for it
    says: str  # what it is, beyond its recipe's description: a catalogue id ("sandbox.proc.…"), or ""
    fields: dict[str, Scalar]  # the values that phrase names
    parent: int | None  # its parent pid when the demo got ready


class DemoRecord(NamedTuple):
    """A process record as the supervisor keeps it and tells procwatch: plus its recipe, group, and whether it is
    the process the recipe is about."""

    pid: int
    start: int
    recipe: str
    role: str
    stat: str
    says: str
    fields: dict[str, Scalar]
    parent: int | None
    group: int
    main: bool

    @classmethod
    def of(cls, proc: ProcRecord, start: int, recipe: str, group: int, main: bool) -> DemoRecord:
        return cls(proc.pid, start, recipe, proc.role, proc.stat, proc.says, proc.fields, proc.parent, group, main)


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


# ---------------------------------------------------------------- story events: what just happened, as values
# Written by demos (to the report pipe) and by the supervisor; forwarded to procwatch as they are. No prose:
# procwatch.engine.words.sandbox_line makes one line of each, keyed by the class name.


class SupervisorStarted(NamedTuple):
    pid: int


class SupervisorStopping(NamedTuple):
    """reason: "pipe" (procwatch went away), "close", "signal" (detail: its name), "lifetime" (detail: seconds),
    "early" (procwatch was gone before it started), "stdout" (procwatch closed the pipe), "error" (detail)."""

    pid: int
    reason: str
    detail: str = ""


class SupervisorDied(NamedTuple):
    """Made by procwatch's side when the supervisor ended without saying bye (a safety net acts: each demo's death
    signal and timer). status: as Popen.returncode (negative: killed by that signal)."""

    pid: int
    status: int


class DemoStarted(NamedTuple):
    """A one-process demo is in place. value: the recipe's number (R: CPU seconds, N/<: the new nice value,
    L: kB locked, s: the session id, l: threads), or None."""

    recipe: str
    pid: int
    getppid: int
    value: int | None = None


class ForkReturned(NamedTuple):
    """fork() (or the raw clone, call "clone") returned `returned` in the process `getpid` (side "parent" or
    "child"), whose parent is `getppid`."""

    side: str
    returned: int
    getpid: int
    getppid: int
    call: str = "fork"


class ForkFailed(NamedTuple):
    """os.fork() raised: error is the exception's class (BlockingIOError), errno its name (EAGAIN)."""

    pid: int
    error: str
    errno: str
    limit: int  # RLIMIT_NPROC (soft) at that moment
    user_procs: int  # processes of that user (uid) at that moment
    uid: int


class ExitCalled(NamedTuple):
    """call: "os._exit" or "sys.exit"; arg: what it was given (None for sys.exit()). why: "" or "cpu_budget",
    "no_child_left", "zombie_left" (other: the zombie), "before_child" (other: the child), "after_wait"."""

    pid: int
    call: str
    arg: int | str | None
    why: str = ""
    other: int | None = None


class ExitCaught(NamedTuple):
    """A process caught SystemExit (sys.exit(arg)) and lives on."""

    pid: int
    arg: int | str | None


class OutputRead(NamedTuple):
    """What a parent read from its child's stdout or stderr pipe after the child ended (text: "" if nothing)."""

    reader: int
    pid: int
    stream: str
    text: str


class WaitCalled(NamedTuple):
    pid: int
    call: str = "os.wait"


class WaitReturned(NamedTuple):
    """A wait returned (pid, status) in `waiter`. call: "wait" (narrated as a reap), "os.wait" or "os.waitpid"
    (narrated as the tuple the tutorial prints); by: who waited ("parent", "tracer", "handler" (SIGCHLD))."""

    waiter: int
    pid: int
    status: int
    call: str = "wait"
    by: str = "parent"


class WaitFailed(NamedTuple):
    """os.wait() raised ChildProcessError: nothing to wait for (errno "ECHILD"); why: "sig_ign", "none_left"."""

    pid: int
    errno: str
    why: str = ""


class ZombieLeft(NamedTuple):
    pid: int
    parent: int
    exit_code: int


class ZombieCost(NamedTuple):
    """Many zombies under one parent, and what they hold: PIDs in use against pid_max, the user's processes
    against RLIMIT_NPROC (-1: unlimited)."""

    parent: int
    zombies: int
    pids_in_use: int
    pid_max: int
    user_procs: int
    nproc_limit: int


class SignalSent(NamedTuple):
    """sender == target: the process signalled itself. zombie: the target was a zombie (nothing happens)."""

    sender: int
    target: int
    signal: str
    recipe: str = ""
    zombie: bool = False


class Continued(NamedTuple):
    pid: int


class Adopted(NamedTuple):
    """getppid() changed: `old_parent` exited. by: "supervisor" (the sandbox's subreaper), "init" (PID 1 of the
    namespace) or "subreaper" (another child subreaper above procwatch)."""

    pid: int
    old_parent: int
    adopter: int
    by: str


class ParentLingers(NamedTuple):
    pid: int
    child: int
    seconds: float


class HandlerSet(NamedTuple):
    """A parent set SIGCHLD's disposition: how "handler" (waitpid(-1, WNOHANG) in a loop) or "ignore" (SIG_IGN)."""

    pid: int
    how: str


class DoubleFork(NamedTuple):
    """The middle process of a double fork exits at once; its child (`grandchild`) is orphaned."""

    middle: int
    grandchild: int


class MainThreadExit(NamedTuple):
    pid: int
    threads: int


class Traced(NamedTuple):
    pid: int
    tracer: int


class TracedStop(NamedTuple):
    """The tracer saw its child stop (first: the stop it asked for; later ones: signals it keeps from it)."""

    tracer: int
    pid: int
    signal: str
    first: bool


class VforkWait(NamedTuple):
    pid: int


class LoginTty(NamedTuple):
    pid: int
    tty: str


class VariableSeen(NamedTuple):
    """A process read its variable `name` at `address` (virtual, in its own address space) and found `value`."""

    pid: int
    name: str
    address: int
    value: int


class MemoryShared(NamedTuple):
    """/proc/PID/smaps_rollup of a forked child: kB still shared with its parent, kB copied (private) for it;
    moment: "before" or "after" it wrote to `written_kb` kB of inherited memory."""

    pid: int
    moment: str
    shared_kb: int
    private_kb: int
    written_kb: int


class RanFirst(NamedTuple):
    """After fork number `n`, each side stamped CLOCK_MONOTONIC (ns) right after fork() returned."""

    parent: int
    child: int
    n: int
    parent_ns: int
    child_ns: int


class Busy(NamedTuple):
    """`processes` busy children now run on `cpus` CPUs (phase 1: as many as CPUs; phase 2: more)."""

    parent: int
    processes: int
    cpus: int


class CpuShare(NamedTuple):
    """From /proc/PID/schedstat over `seconds`: ns on a CPU and ns waiting in the run queue; cpu: the last one."""

    pid: int
    cpu: int
    on_cpu_ns: int
    waiting_ns: int
    seconds: float


class Exec(NamedTuple):
    """`pid` replaced its program by `program` (same pid, new name)."""

    pid: int
    old_name: str
    program: str


class SubreaperFlag(NamedTuple):
    """The supervisor set (on) or cleared (off) PR_SET_CHILD_SUBREAPER, so that one demo's orphan goes above it."""

    pid: int
    on: bool
    demo: int


class KilledAll(NamedTuple):
    """done False: kill all begins; True: the supervisor reaped them all."""

    processes: int
    done: bool


class SupervisorReaped(NamedTuple):
    """The supervisor's wait() returned. role: the process's role ("root": its own exited child without a record,
    "parent", "demo", ...); adopted_from: its first parent when the supervisor had adopted it (a subreaper)."""

    reaper: int
    pid: int
    status: int
    role: str
    recipe: str = ""
    adopted_from: int | None = None
    was_zombie: bool = False


class SafetyNet(NamedTuple):
    """A safety net acted: "pdeathsig" (a demo died with its parent: its death signal), "timer" (its
    self-destruct alarm fired). The subreaper's own net is SupervisorReaped with adopted_from; the supervisor's
    death is SupervisorDied."""

    net: str
    pid: int
    parent: int | None = None


Story = (SupervisorStarted | SupervisorStopping | SupervisorDied | DemoStarted | ForkReturned | ForkFailed
         | ExitCalled | ExitCaught | OutputRead | WaitCalled | WaitReturned | WaitFailed | ZombieLeft | ZombieCost
         | SignalSent | Continued | Adopted | ParentLingers | HandlerSet | DoubleFork | MainThreadExit | Traced
         | TracedStop | VforkWait | LoginTty | VariableSeen | MemoryShared | RanFirst | Busy | CpuShare | Exec
         | SubreaperFlag | KilledAll | SupervisorReaped | SafetyNet)
STORY: dict[str, type[Story]] = {cls.__name__: cls for cls in (
    SupervisorStarted, SupervisorStopping, SupervisorDied, DemoStarted, ForkReturned, ForkFailed, ExitCalled,
    ExitCaught, OutputRead, WaitCalled, WaitReturned, WaitFailed, ZombieLeft, ZombieCost, SignalSent, Continued,
    Adopted, ParentLingers, HandlerSet, DoubleFork, MainThreadExit, Traced, TracedStop, VforkWait, LoginTty,
    VariableSeen, MemoryShared, RanFirst, Busy, CpuShare, Exec, SubreaperFlag, KilledAll, SupervisorReaped,
    SafetyNet)}
STORY_TYPES = tuple(STORY.values())  # for isinstance


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


class Added(NamedTuple):
    demo: DemoRecord


class Removed(NamedTuple):
    pid: int
    start: int


class Bye(NamedTuple):
    """The supervisor is about to exit on purpose (procwatch tells a crash by its absence)."""

    reason: str


Event = Hello | Added | Removed | Bye
EVENTS: dict[str, type[Event]] = {"hello": Hello, "added": Added, "removed": Removed, "bye": Bye}
ToProcwatch = Reply | Event | Story


# ---------------------------------------------------------------- reports: demos -> supervisor


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


class LetOrphanGo(NamedTuple):
    """The init-orphan demo's middle process is about to exit: the supervisor clears its subreaper flag, tells
    `middle` to exit (SIGUSR1), and sets the flag again once `orphan` was adopted elsewhere."""

    g: int
    middle: int
    orphan: int


Report = Ready | Refused | Gone | LetOrphanGo | Story
REPORTS: dict[str, type[Ready | Refused | Gone | LetOrphanGo]] = {
    "ready": Ready, "refused": Refused, "gone": Gone, "let_orphan_go": LetOrphanGo}

COMMAND_TAG, EVENT_TAG, REPORT_TAG, STORY_TAG = "op", "event", "t", "story"
_TAG: dict[type, tuple[str, str]] = {
    **{cls: (COMMAND_TAG, kind) for kind, cls in OPS.items()},
    **{cls: (EVENT_TAG, kind) for kind, cls in EVENTS.items()},
    **{cls: (REPORT_TAG, kind) for kind, cls in REPORTS.items()},
    **{cls: (STORY_TAG, kind) for kind, cls in STORY.items()},
}
_NESTED: dict[tuple[type, str], type] = {(Reply, "demo"): DemoRecord, (Added, "demo"): DemoRecord,
                                         (Ready, "procs"): ProcRecord}
_TEXT: dict[type, str] = {Reply: "error", Bye: "reason", Refused: "reason", OutputRead: "text",
                          SupervisorStopping: "detail"}


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
    if cls in (ProcRecord, DemoRecord):  # what a process is: kept whatever the line held, said neutrally if odd
        kwargs["says"], kwargs["fields"] = says_id(kwargs["says"]), scalar_fields(kwargs["fields"])
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
    if STORY_TAG in obj:
        return _story(obj)
    kind = obj.get(EVENT_TAG)
    if not isinstance(kind, str) or kind not in EVENTS:
        raise ProtocolError(f"unknown event {kind!r}")
    return _build(EVENTS[kind], obj, kind)


def _story(obj: dict[str, Any]) -> Story:
    kind = obj.get(STORY_TAG)
    if not isinstance(kind, str) or kind not in STORY:
        raise ProtocolError(f"unknown story event {kind!r}")
    return _build(STORY[kind], obj, kind)


def decode_report(line: bytes | str) -> Report:
    """A demo's report from one line of the report pipe. Raises ProtocolError."""
    obj = _object(line)
    if STORY_TAG in obj:
        return _story(obj)
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
