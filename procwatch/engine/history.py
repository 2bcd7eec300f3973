"""History: the events lineage emits, kept in bounded rings for the timeline, the event log and `--watch`, and
which processes are new or have just ended (so both ends of the five-state model can be seen for a moment).

Bounds: a global ring of TOTAL events; per identity, the last PER_PROCESS events other than "first seen" (a
process's own timeline), kept while the process lives and for LINGER seconds after it ended; at most MAX_ENDED
ended processes are remembered. Memory stays flat under a fork storm. Standard library only.

Thread-count changes are in neither ring: a busy thread pool changes its count at almost every sweep, and would
push the zombie, exec and state events out of both. Each process has instead one entry, coalesced (the count
before its first change, the latest count, how many changes, since when), moved to its latest change; the event
log merges them in by time. The THREAD_ENTRIES processes that changed last are kept.

Fed by the poller thread and read by the UI thread: a lock guards every access (each is short).
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from operator import attrgetter
from typing import NamedTuple

from procwatch.engine.lineage import Event, Exited, FirstSeen, Observations, Reaped, ThreadsChanged
from procwatch.engine.model import Identity, ProcInfo

TOTAL = 2000
PER_PROCESS = 32
LINGER = 3.0  # seconds a new process is marked new, and an ended one stays on screen, dimmed
MAX_ENDED = 256  # ended processes shown at once (a fork storm ends hundreds a second)
THREAD_ENTRIES = 256  # processes whose (coalesced) thread-count changes the event log keeps


class Ended(NamedTuple):
    proc: ProcInfo  # as the last sweep saw it
    kind: str  # "exited" or "reaped"
    at: float


class Recent(NamedTuple):
    """What is new and what just ended, at one sweep: immutable, handed to the UI with the rows."""

    new: frozenset[Identity] = frozenset()
    ended: Mapping[int, Ended] = {}  # pid -> the ended process (absent when the pid is already reused)


class History:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: deque[Event] = deque(maxlen=TOTAL)
        self._by_identity: dict[Identity, list[Event]] = {}
        self._threads: dict[Identity, ThreadsChanged] = {}  # one coalesced entry each; order = latest change
        self._new: dict[Identity, float] = {}
        self._ended: dict[Identity, Ended] = {}  # insertion order = end order
        self._previous: Mapping[int, ProcInfo] = {}

    def record(self, observations: Observations) -> Recent:
        """Take one sweep's events; returns what is new and what just ended, for the rows."""
        now = observations.snapshot.taken_at
        procs = observations.snapshot.procs
        with self._lock:
            for event in observations.events:
                if isinstance(event, ThreadsChanged):
                    self._coalesce(event)
                    continue
                self._all.append(event)
                if isinstance(event, FirstSeen):
                    self._new[event.identity] = now
                    continue
                ring = self._by_identity.setdefault(event.identity, [])
                ring.append(event)
                if len(ring) > PER_PROCESS:
                    del ring[0]
                if isinstance(event, (Reaped, Exited)):
                    last = self._previous.get(event.identity[0])
                    if last is not None and last.identity == event.identity:
                        self._ended[event.identity] = Ended(last, "reaped" if isinstance(event, Reaped) else "exited",
                                                            now)
            self._forget(now)
            self._previous = procs
            new = frozenset(self._new)
            ended = {e.proc.pid: e for e in self._ended.values() if e.proc.pid not in procs}
        return Recent(new, ended)

    def _coalesce(self, event: ThreadsChanged) -> None:
        """Fold a thread-count change into its process's entry, which moves to the newest place."""
        earlier = self._threads.pop(event.identity, None)
        if earlier is None:
            event = event._replace(since=event.at if event.since is None else event.since)
        else:
            event = event._replace(old=earlier.old, changes=earlier.changes + event.changes, since=earlier.since)
        self._threads[event.identity] = event
        if len(self._threads) > THREAD_ENTRIES:
            del self._threads[next(iter(self._threads))]  # the process whose threads changed longest ago

    def _forget(self, now: float) -> None:
        if self._new:
            for identity in [i for i, at in self._new.items() if now - at > LINGER]:
                del self._new[identity]
        while self._ended and len(self._ended) > MAX_ENDED:
            identity = next(iter(self._ended))
            del self._ended[identity]
            self._by_identity.pop(identity, None)
        for identity in [i for i, e in self._ended.items() if now - e.at > LINGER]:
            del self._ended[identity]
            self._by_identity.pop(identity, None)
        if len(self._by_identity) > len(self._previous) + MAX_ENDED:  # rings of processes gone unseen
            live = {p.identity for p in self._previous.values()}
            for identity in [i for i in self._by_identity if i not in live and i not in self._ended]:
                del self._by_identity[identity]

    def of(self, identity: Identity) -> list[Event]:
        """One process's events, oldest first (its timeline), its coalesced thread-count change among them."""
        with self._lock:
            events = list(self._by_identity.get(identity, ()))
            threads = self._threads.get(identity)
        if threads is not None:
            events.append(threads)
            events.sort(key=attrgetter("at"))  # stable: the ring's own order stays
        return events

    def newest_first(self, limit: int | None = None) -> list[Event]:
        """The event log: the ring and the thread-count entries, merged by time, newest first."""
        with self._lock:
            events = list(self._all)
            threads = list(self._threads.values())
        merged: list[Event] = list(heapq.merge(events, threads, key=attrgetter("at")))  # both oldest first
        merged.reverse()
        return merged if limit is None else merged[:limit]

    def __len__(self) -> int:
        return len(self._all) + len(self._threads)


def involving(events: Iterable[Event], identities: set[Identity]) -> list[Event]:
    """The events about these processes (the sandbox narration: its own processes only)."""
    return [e for e in events if e.identity in identities]


NOTHING_RECENT = Recent()
