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
    """The honest "new": Linux never shows a process being created; this is the first sweep that saw it."""

    at: float
    identity: Identity
    parent: int
    name: str
    started: float  # epoch seconds: when fork() created it (from the start time)


class Exec(NamedTuple):
    """Same pid and start time, a new program: both comm and the command line changed."""

    at: float
    identity: Identity
    old_name: str
    new_name: str


class ThreadsChanged(NamedTuple):
    """The thread count changed between two sweeps. Lineage emits one per change (`changes` 1, `since` None); the
    event log keeps one per process (procwatch.engine.history), coalesced: `old` is then the count before the first
    change it stands for, `new` the latest, `changes` how many there were and `since` when the first was seen."""

    at: float
    identity: Identity
    old: int
    new: int
    changes: int = 1
    since: float | None = None


class Reaped(NamedTuple):
    """Gone after it was seen as a zombie: its parent (or, after the parent died, the adopter) called wait()."""

    at: float
    identity: Identity
    parent: int
    name: str
    exit_code: int  # the wait status that was collected


class Exited(NamedTuple):
    """Gone without a zombie seen: it exited and was reaped between two sweeps."""

    at: float
    identity: Identity
    parent: int
    name: str


Event = FirstSeen | Exec | StateChanged | ThreadsChanged | BecameZombie | Reparented | Reaped | Exited

# One short word per event type: the "event" field of `--watch --json` (values for programs, never translated).
EVENT_KINDS: dict[type, str] = {
    FirstSeen: "new", Exec: "exec", StateChanged: "state", BecameZombie: "zombie", Reparented: "reparented",
    Exited: "exited", Reaped: "reaped", ThreadsChanged: "threads",
}


class _Memory:
    """What is remembered about one identity. A slotted class: one per process, built at every first sighting."""

    __slots__ = ("last", "orphan", "parent_name", "ppid", "state", "zombie_at_start", "zombie_since")

    def __init__(self, p: ProcInfo, parent_name: str, orphan: Orphan | None = None) -> None:
        self.ppid = p.ppid
        self.parent_name = parent_name
        self.state = p.state
        self.last = p  # the record of the last sweep that saw it: what changed, and how it looked when it went
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
        for p in procs.values():
            identity = (p.pid, p.start_ticks)
            parent = procs.get(p.ppid)
            parent_name = parent.name if parent else "?"
            seen = old.pop(identity, None)  # what is left in `old` at the end is gone
            if seen is None:
                memory = _Memory(p, parent_name, static_orphan(p, procs) if p.ppid == INIT_PID else None)
                if not first:
                    events.append(FirstSeen(now, identity, p.ppid, p.name, p.started))
            else:
                memory = seen
                if seen.ppid != p.ppid:
                    adopter_is_init = p.ppid == INIT_PID
                    memory.orphan = Orphan("reparented", p.ppid, parent_name, adopter_is_init, seen.ppid,
                                           seen.parent_name)
                    events.append(Reparented(now, identity, seen.ppid, p.ppid, adopter_is_init))
                    memory.ppid, memory.parent_name = p.ppid, parent_name
                elif parent is not None:
                    memory.parent_name = parent_name
                if seen.state != p.state:
                    events.append(StateChanged(now, identity, seen.state, p.state))
                    memory.state = p.state
                last = memory.last
                if last is not p:  # the collector reuses an unchanged record: nothing below can differ
                    # exec: a new program (comm and command line both change; mid-exec the new comm can show
                    # before the new command line, which reads empty then). A kernel thread renaming itself for
                    # each work item (kworker) or a process renaming itself (prctl) is not one.
                    if last.name != p.name and last.argv != p.argv and not p.kernel_thread and p.state != "Z":
                        events.append(Exec(now, identity, last.name, p.name))
                    if last.threads != p.threads and p.state != "Z" and last.state != "Z":
                        events.append(ThreadsChanged(now, identity, last.threads, p.threads))
                    memory.last = p
            if p.state == "Z":
                if memory.zombie_since is None:
                    memory.zombie_since = now
                    memory.zombie_at_start = first
                    if not first:
                        events.append(BecameZombie(now, identity, p.ppid, p.exit_code))
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
        for identity, memory in old.items():  # only the gone are left: O(gone), not O(all)
            last = memory.last
            if memory.state == "Z":
                events.append(Reaped(now, identity, memory.ppid, last.name, last.exit_code))
            else:
                events.append(Exited(now, identity, memory.ppid, last.name))
        self._memory = new  # identities that died are forgotten: no growth under churn
        self._first = False
        return Observations(snapshot, orphans, zombies, unreaped, tuple(events))

    def __len__(self) -> int:
        return len(self._memory)
