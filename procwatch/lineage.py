"""Lineage: what one sweep cannot tell. Remembers identities across sweeps to find orphans (observed
re-parenting), how long zombies have waited, and the state changes worth narrating. No Textual here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

from procwatch.model import Identity, ProcInfo, Snapshot
from procwatch.stat import decode_wait_status

INIT_PID = 1


class Orphan(NamedTuple):
    evidence: str  # "reparented" (seen happen) or "session" (static: likely orphan)
    adopter: int
    adopter_name: str
    adopter_is_init: bool
    old_parent: int | None  # known only when the re-parenting was observed
    old_parent_name: str | None
    session_leader: int | None = None

    def explain(self) -> str:
        adopter = f"{self.adopter} ({self.adopter_name})"
        kind = "init" if self.adopter_is_init else "a child subreaper"
        if self.evidence == "reparented":
            return (f"orphan: parent {self.old_parent} ({self.old_parent_name}) exited; adopted by {adopter}, "
                    f"{kind} [seen re-parented]")
        return (f"likely orphan: child of {adopter} but not a session leader, while its session leader "
                f"{self.session_leader} is alive elsewhere [static evidence]")


class Zombie(NamedTuple):
    since: float  # epoch seconds when first seen in Z (an upper bound on how long it has waited)
    seen_at_start: bool  # already Z in the first sweep: it has waited at least this long
    status: str  # pending wait status, decoded
    threads_alive: bool  # "Zl": the main thread exited, others still run: not dead at all

    def explain(self, parent: int, parent_name: str, now: float) -> str:
        if self.threads_alive:
            return ("main thread exited but other threads still run: this process is not dead, "
                    "so it is not a zombie yet")
        waited = now - self.since
        since = f" for {'at least ' if self.seen_at_start else ''}{format_duration(waited)}" if waited >= 1 else ""
        return f"zombie{since}: {self.status}, waiting for parent {parent} ({parent_name}) to call wait()"


class Unreaped(NamedTuple):
    count: int
    oldest_since: float


class Event(NamedTuple):
    at: float
    pid: int
    kind: str  # "reparented", "zombie", "state"
    text: str


class _Memory:
    """What is remembered about one identity. A slotted class: one per process, built at every first sighting."""

    __slots__ = ("ppid", "parent_name", "state", "zombie_since", "zombie_at_start", "orphan")

    def __init__(self, ppid: int, parent_name: str, state: str, orphan: Orphan | None = None) -> None:
        self.ppid = ppid
        self.parent_name = parent_name
        self.state = state
        self.zombie_since: float | None = None
        self.zombie_at_start = False
        self.orphan = orphan


@dataclass(frozen=True)
class Observations:
    snapshot: Snapshot
    orphans: dict[int, Orphan] = field(default_factory=dict)
    zombies: dict[int, Zombie] = field(default_factory=dict)
    unreaped: dict[int, Unreaped] = field(default_factory=dict)  # parent pid -> its zombie children
    events: tuple[Event, ...] = ()


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"
    return f"{seconds // 86400}d{seconds // 3600 % 24:02d}h"


def static_orphan(p: ProcInfo, procs: Mapping[int, ProcInfo]) -> Orphan | None:
    """A process first seen under init: a likely orphan if it is not a session leader while its session
    leader is alive elsewhere (e.g. `(sleep 99 &)` from a shell). A session leader under init is daemon-like."""
    if p.ppid != INIT_PID or p.kernel_thread or p.session == p.pid or p.session in (0, INIT_PID, -1):
        return None
    leader = procs.get(p.session)
    if leader is None or leader.state in "ZX":
        return None
    init = procs.get(INIT_PID)
    return Orphan("session", INIT_PID, init.name if init else "init", True, None, None, p.session)


class Lineage:
    """Feed it every snapshot in order; it returns Observations. Memory is kept only for live identities."""

    def __init__(self) -> None:
        self._memory: dict[Identity, _Memory] = {}
        self._first = True

    def observe(self, snapshot: Snapshot) -> Observations:
        procs = snapshot.procs
        now = snapshot.taken_at
        old, new = self._memory, {}
        orphans: dict[int, Orphan] = {}
        zombies: dict[int, Zombie] = {}
        unreaped: dict[int, Unreaped] = {}
        events: list[Event] = []
        first = self._first
        for p in procs.values():
            identity = (p.pid, p.start_ticks)
            parent = procs.get(p.ppid)
            parent_name = parent.name if parent else "?"
            seen = old.get(identity)
            if seen is None:
                memory = _Memory(p.ppid, parent_name, p.state,
                                 static_orphan(p, procs) if p.ppid == INIT_PID else None)
            else:
                memory = seen
                if seen.ppid != p.ppid:
                    adopter_is_init = p.ppid == INIT_PID
                    memory.orphan = Orphan("reparented", p.ppid, parent_name, adopter_is_init, seen.ppid,
                                           seen.parent_name)
                    events.append(Event(now, p.pid, "reparented", (
                        f"parent {seen.ppid} ({seen.parent_name}) exited: {p.pid} ({p.name}) is an orphan, adopted "
                        f"by {p.ppid} ({parent_name})" + ("" if adopter_is_init else ", a child subreaper"))))
                    memory.ppid, memory.parent_name = p.ppid, parent_name
                elif parent is not None:
                    memory.parent_name = parent_name
                if seen.state != p.state:
                    events.append(Event(now, p.pid, "state", f"{p.pid} ({p.name}) changed {seen.state} -> {p.state}"))
                    memory.state = p.state
            if p.state == "Z":
                if memory.zombie_since is None:
                    memory.zombie_since = now
                    memory.zombie_at_start = first
                    if not first:
                        events.append(Event(now, p.pid, "zombie", (
                            f"{p.pid} ({p.name}) exited ({decode_wait_status(p.exit_code)}) and its parent "
                            f"{p.ppid} ({parent_name}) has not called wait(): it is a zombie")))
                zombie = Zombie(memory.zombie_since, memory.zombie_at_start, decode_wait_status(p.exit_code),
                                p.threads > 1)
                zombies[p.pid] = zombie
                if not zombie.threads_alive:
                    count, oldest = unreaped.get(p.ppid, (0, now))
                    unreaped[p.ppid] = Unreaped(count + 1, min(oldest, memory.zombie_since))
            else:
                memory.zombie_since = None
            if memory.orphan is not None:
                orphans[p.pid] = memory.orphan
            new[identity] = memory
        self._memory = new  # identities that died are forgotten: no growth under churn
        self._first = False
        return Observations(snapshot, orphans, zombies, unreaped, tuple(events))

    def __len__(self) -> int:
        return len(self._memory)
