"""Lineage: what one sweep cannot tell. Remembers identities across sweeps to find orphans (observed
re-parenting), how long zombies have waited, and the state changes worth narrating, as typed events (values,
no prose: procwatch.engine.words makes the sentences). Standard library only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from procwatch.engine.model import Identity, ProcInfo, Snapshot

INIT_PID = 1


class Orphan(NamedTuple):
    evidence: str  # "reparented" (seen happen) or "session" (static: likely orphan)
    adopter: int
    adopter_name: str
    adopter_is_init: bool
    old_parent: int | None  # known only when the re-parenting was observed
    old_parent_name: str | None
    session_leader: int | None = None



class Zombie(NamedTuple):
    since: float  # epoch seconds when first seen in Z (an upper bound on how long it has waited)
    seen_at_start: bool  # already Z in the first sweep: it has waited at least this long
    exit_code: int  # the wait status the parent has not collected (stat field 52), e.g. 768 = exit(3)
    threads_alive: bool  # "Zl": the main thread exited, others still run: not dead at all



class Unreaped(NamedTuple):
    count: int  # type: ignore[assignment]  # a field, shadowing tuple.count on purpose: the name says it
    oldest_since: float


class StateChanged(NamedTuple):
    at: float
    identity: Identity
    old: str  # kernel state letters
    new: str


class Reparented(NamedTuple):
    at: float
    identity: Identity
    old_parent: int
    new_parent: int
    adopter_is_init: bool


class BecameZombie(NamedTuple):
    at: float
    identity: Identity
    parent: int
    exit_code: int


class FirstSeen(NamedTuple):
    """A process not seen before (not emitted for the first sweep: everything is new then)."""

    at: float
    identity: Identity
    parent: int
    name: str  # comm


class Exec(NamedTuple):
    """Same pid and start time, another program: comm changed (an exec that keeps comm cannot be told apart)."""

    at: float
    identity: Identity
    old_name: str
    new_name: str


class Exited(NamedTuple):
    """Gone without being seen as a zombie: it exited and was reaped between two sweeps."""

    at: float
    identity: Identity
    parent: int
    name: str


class Reaped(NamedTuple):
    """A zombie is gone: its parent (or, after the parent died, the adopter) collected its status."""

    at: float
    identity: Identity
    parent: int
    name: str
    exit_code: int  # the wait status that was collected


class ThreadsChanged(NamedTuple):
    at: float
    identity: Identity
    old: int
    new: int


Event = StateChanged | Reparented | BecameZombie | FirstSeen | Exec | Exited | Reaped | ThreadsChanged

# One short word per event type: the "event" field of `--watch --json` and the key of its phrase in words.
EVENT_KINDS: dict[type, str] = {
    FirstSeen: "new", Exec: "exec", StateChanged: "state", BecameZombie: "zombie", Reparented: "reparented",
    Exited: "exited", Reaped: "reaped", ThreadsChanged: "threads",
}


def _event_pid(event: Event) -> int:
    return event.identity[0]


# Every event also answers `.kind` (its word above) and `.pid`: filters over a mixed list need no isinstance chain.
for _type, _kind in EVENT_KINDS.items():
    _type.kind = _kind  # type: ignore[attr-defined]
    _type.pid = property(_event_pid)  # type: ignore[attr-defined]


class _Memory:
    """What is remembered about one identity. A slotted class: one per process, built at every first sighting."""

    __slots__ = ("exit_code", "name", "orphan", "parent_name", "ppid", "state", "threads", "zombie_at_start",
                 "zombie_since")

    def __init__(self, ppid: int, parent_name: str, state: str, orphan: Orphan | None = None, name: str = "",
                 threads: int = 1) -> None:
        self.ppid = ppid
        self.parent_name = parent_name
        self.state = state
        self.name = name
        self.threads = threads
        self.exit_code = 0
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
        carried = 0  # identities seen last time and again now: when fewer than remembered, some are gone
        for p in procs.values():
            identity = (p.pid, p.start_ticks)
            parent = procs.get(p.ppid)
            parent_name = parent.name if parent else "?"
            seen = old.get(identity)
            if seen is None:
                memory = _Memory(p.ppid, parent_name, p.state,
                                 static_orphan(p, procs) if p.ppid == INIT_PID else None, p.name, p.threads)
                if not first:
                    events.append(FirstSeen(now, identity, p.ppid, p.name))
            else:
                carried += 1
                memory = seen
                if seen.ppid != p.ppid:
                    adopter_is_init = p.ppid == INIT_PID
                    memory.orphan = Orphan("reparented", p.ppid, parent_name, adopter_is_init, seen.ppid,
                                           seen.parent_name)
                    events.append(Reparented(now, identity, seen.ppid, p.ppid, adopter_is_init))
                    memory.ppid, memory.parent_name = p.ppid, parent_name
                elif parent is not None:
                    memory.parent_name = parent_name
                if seen.name != p.name:
                    if not p.kernel_thread:  # a kworker renames itself for each work item: not an exec
                        events.append(Exec(now, identity, seen.name, p.name))
                    memory.name = p.name
                if seen.state != p.state:
                    events.append(StateChanged(now, identity, seen.state, p.state))
                    memory.state = p.state
                if seen.threads != p.threads:
                    events.append(ThreadsChanged(now, identity, seen.threads, p.threads))
                    memory.threads = p.threads
            if p.state == "Z":
                if memory.zombie_since is None:
                    memory.zombie_since = now
                    memory.zombie_at_start = first
                    if not first:
                        events.append(BecameZombie(now, identity, p.ppid, p.exit_code))
                memory.exit_code = p.exit_code
                zombie = Zombie(memory.zombie_since, memory.zombie_at_start, p.exit_code, p.threads > 1)
                zombies[p.pid] = zombie
                if not zombie.threads_alive:
                    count, oldest = unreaped.get(p.ppid, (0, now))
                    unreaped[p.ppid] = Unreaped(count + 1, min(oldest, memory.zombie_since))
            else:
                memory.zombie_since = None
            if memory.orphan is not None:
                orphans[p.pid] = memory.orphan
            new[identity] = memory
        if carried < len(old):
            for identity, memory in old.items():
                if identity not in new:
                    if memory.state == "Z":
                        events.append(Reaped(now, identity, memory.ppid, memory.name, memory.exit_code))
                    else:
                        events.append(Exited(now, identity, memory.ppid, memory.name))
        self._memory = new  # identities that died are forgotten: no growth under churn
        self._first = False
        return Observations(snapshot, orphans, zombies, unreaped, tuple(events))

    def __len__(self) -> int:
        return len(self._memory)
