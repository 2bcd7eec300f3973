"""History: the events lineage emits, kept in bounded rings for the timeline, the event log and `--watch`, and
which processes are new or have just ended (so both ends of the five-state model can be seen for a moment).

Bounds: a global ring of TOTAL events; per identity, the last PER_PROCESS events other than "first seen" (a
process's own timeline), kept while the process lives and for LINGER seconds after it ended; at most MAX_ENDED
ended processes are remembered. Memory stays flat under a fork storm. Standard library only.

Fed by the poller thread and read by the UI thread: a lock guards every access (each is short).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from procwatch.engine.lineage import Event, Exited, FirstSeen, Observations, Reaped
from procwatch.engine.model import Identity, ProcInfo

TOTAL = 2000
PER_PROCESS = 32
LINGER = 3.0  # seconds a new process is marked new, and an ended one stays on screen, dimmed
MAX_ENDED = 256  # ended processes shown at once (a fork storm ends hundreds a second)


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
        self._new: dict[Identity, float] = {}
        self._ended: dict[Identity, Ended] = {}  # insertion order = end order
        self._previous: Mapping[int, ProcInfo] = {}

    def record(self, observations: Observations) -> Recent:
        """Take one sweep's events; returns what is new and what just ended, for the rows."""
        now = observations.snapshot.taken_at
        procs = observations.snapshot.procs
        with self._lock:
            for event in observations.events:
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
        """One process's events, oldest first (its timeline)."""
        with self._lock:
            return list(self._by_identity.get(identity, ()))

    def newest_first(self, limit: int = TOTAL) -> list[Event]:
        with self._lock:
            events = list(self._all)
        events.reverse()
        return events[:limit]

    def __len__(self) -> int:
        return len(self._all)


def involving(events: Iterable[Event], identities: set[Identity]) -> list[Event]:
    """The events about these processes (the sandbox narration: its own processes only)."""
    return [e for e in events if e.identity in identities]


NOTHING_RECENT = Recent()
