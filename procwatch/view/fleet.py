"""The fleet: one RemoteCollector per host and, per host, one summary row (processes, zombies, parents not reaping,
orphans, D, T, sweep age, connection state). No Textual here: the fleet screen reads `summaries()`.

Each connection has its own thread, and one more thread makes the summaries every interval from whatever each
host last sent: a slow or silent host only ages its own row."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from procwatch.engine.lineage import Lineage, Observations
from procwatch.engine.model import Snapshot
from procwatch.engine.remote import HostSpec, RemoteCollector, SshOptions
from procwatch.engine.ssh_master import SshMasters


@dataclass(frozen=True)
class HostSummary:
    label: str
    state: str  # connecting, connected, disconnected, closed
    reason: str  # why it is disconnected
    mode: str  # python or ps
    python: str  # the remote's version, when it runs the agent
    processes: int | None  # None before the first snapshot
    zombies: int = 0
    not_reaping: int = 0  # parents with unreaped zombie children
    orphans: int = 0
    disk_sleep: int = 0  # D
    stopped: int = 0  # T and t
    age: float | None = None  # seconds since the last snapshot arrived
    retry_in: float | None = None  # seconds to the next connection attempt

    SORT_KEYS = ("host", "zombies", "not_reaping", "procs", "state")  # named as the fleet table's columns

    def sort_key(self, key: str) -> tuple:
        counts = {"zombies": -self.zombies, "not_reaping": -self.not_reaping, "procs": -(self.processes or 0),
                  "state": ("connected", "connecting", "disconnected", "closed").index(self.state)}
        return (counts.get(key, 0), self.label)


def summarise(label: str, collector: RemoteCollector, observations: Observations | None,
              now: float) -> HostSummary:
    status = collector.status
    retry_in = max(0.0, status.retry_at - now) if status.retry_at is not None else None
    age = now - collector.received_at if collector.received_at is not None else None
    if observations is None:
        return HostSummary(label, status.state, status.reason, status.mode, status.python, None, age=age,
                           retry_in=retry_in)
    procs = observations.snapshot.procs.values()
    return HostSummary(
        label, status.state, status.reason, status.mode, status.python, len(observations.snapshot),
        zombies=len(observations.zombies), not_reaping=len(observations.unreaped), orphans=len(observations.orphans),
        disk_sleep=sum(p.state == "D" for p in procs), stopped=sum(p.state in "Tt" for p in procs),
        age=age, retry_in=retry_in,
    )


class FleetMonitor:
    def __init__(self, hosts: Sequence[HostSpec], options: SshOptions, interval: float = 1.0) -> None:
        self.hosts = list(hosts)
        self.options = options
        self.masters: SshMasters | None = None  # closed after the connections that use them
        self.interval = interval
        self.collectors = [RemoteCollector(host, interval, options, reconnect=True, first_timeout=0,
                                           host_in_notes=True) for host in hosts]
        self._lineages = [Lineage() for _ in hosts]
        self._last: list[tuple[Snapshot | None, Observations | None]] = [(None, None) for _ in hosts]
        self._summaries = [summarise(h.label, c, None, time.monotonic()) for h, c in zip(hosts, self.collectors,
                                                                                         strict=True)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="procwatch-fleet", daemon=True)

    def open_masters(self, interactive: bool = True) -> None:
        """Before start(), with the terminal still a terminal: one master connection per host (ssh asks for what
        it needs here); every connection then runs through it."""
        self.masters = SshMasters(self.options)
        self.masters.open_all(self.hosts, interactive)
        for collector in self.collectors:
            collector.options = self.masters.options_for_channels()

    def start(self) -> FleetMonitor:
        for collector in self.collectors:
            collector.start()
        self._thread.start()
        return self

    def summaries(self) -> list[HostSummary]:
        return list(self._summaries)

    def refresh(self) -> None:
        """Make the summaries now from what every host last sent (the thread does this every interval)."""
        now = time.monotonic()
        summaries = []
        for i, (host, collector) in enumerate(zip(self.hosts, self.collectors, strict=True)):
            snapshot, observations = self._last[i]
            latest = collector.latest()
            if latest is not None and latest is not snapshot:
                observations = self._lineages[i].observe(latest)
                self._last[i] = (latest, observations)
            summaries.append(summarise(host.label, collector, observations, now))
        self._summaries = summaries

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.interval)

    def close(self) -> None:
        self._stop.set()
        for collector in self.collectors:
            collector.close()
        if self.masters is not None:
            self.masters.close()
