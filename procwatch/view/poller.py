"""The refresh loop: one long-lived thread sweeps, observes and builds rows, then hands the result over.
No Textual here: the app passes a callback that posts a message (thread-safe).

Sweeps never overlap (one thread), a view change (filter, sort, collapse) rebuilds rows from the last
snapshot without sweeping, and a sweep slower than the interval stretches the period instead of piling up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from procwatch.engine.collector import Collector
from procwatch.engine.history import NOTHING_RECENT, History, Recent
from procwatch.engine.lineage import Lineage, Observations
from procwatch.engine.model import Identity
from procwatch.engine.threads import ThreadRates, with_threads
from procwatch.engine.tree import ProcessFilter, Row, build_rows
from procwatch.view.rows import RowFacts


@dataclass(frozen=True)
class View:
    """What the user chose to see. Immutable: the UI swaps a new one in, the poller reads it once per build."""

    process_filter: ProcessFilter = ProcessFilter()
    collapsed: frozenset[Identity] = frozenset()
    sort: str = "pid"
    hide_kernel: bool = False
    threads: bool = False  # threads as children of their process (read only while on; see engine.threads)


@dataclass(frozen=True)
class Update:
    observations: Observations
    rows: list[Row]
    view: View
    work_seconds: float  # sweep + observe + build
    period: float  # the interval in force (stretched when work is slow)
    swept: bool  # False when only the view changed
    facts: RowFacts
    number: int  # 1 for the first update, counting every one built (a rebuild too)
    recent: Recent = NOTHING_RECENT  # processes new for a moment, and ended ones still shown, dimmed
    thread_rows: frozenset[Identity] = frozenset()  # rows that are threads, with the threads view on
    threads_left_out: int = 0  # multithreaded processes whose threads the budget left out


@dataclass
class Poller:
    collector: Collector
    on_update: Callable[[Update], None]
    interval: float = 1.0
    view: View = field(default_factory=View)
    on_error: Callable[[BaseException], None] | None = None

    def __post_init__(self) -> None:
        self.lineage = Lineage()
        self.history = History()  # read by the UI thread too (it locks)
        self._recent = Recent()
        self.paused = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._want_sweep = True
        self._cgroups_wanted = False
        self._thread_rates = ThreadRates()
        self._observations: Observations | None = None
        self._built = 0
        self._facts: RowFacts | None = None  # of the last build
        self._thread = threading.Thread(target=self._run, name="procwatch-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def set_view(self, view: View) -> None:
        """Rebuild rows for a new view from the last snapshot, without a sweep."""
        self.view = view
        self._wake.set()

    def want_cgroups(self) -> None:
        """Fill ProcInfo.cgroup from the next sweep on (the UNIT column, a unit filter, the unit picker); applied
        by the poller thread itself, between two sweeps, and a sweep is asked for."""
        self._cgroups_wanted = True
        self.refresh_now()

    @property
    def has_cgroups(self) -> bool:
        """Whether sweeps fill ProcInfo.cgroup (a collector that cannot be asked gives what it has)."""
        return bool(getattr(self.collector, "cgroups", True)) and not self._cgroups_wanted

    def refresh_now(self) -> None:
        self._want_sweep = True
        self._wake.set()

    def _run(self) -> None:
        period = self.interval
        next_sweep = 0.0
        while not self._stop.is_set():
            self._wake.clear()
            now = time.monotonic()
            sweep = self._want_sweep or (not self.paused and now >= next_sweep) or self._observations is None
            self._want_sweep = False
            try:
                started = time.monotonic()
                if sweep or self._observations is None:
                    if self._cgroups_wanted:
                        self._cgroups_wanted = False
                        enable = getattr(self.collector, "enable_cgroups", None)
                        if enable is not None:
                            enable()
                    self._observations = self.lineage.observe(self.collector.sweep())
                    self._recent = self.history.record(self._observations)
                observations, recent = self._observations, self._recent
                view = self.view
                procs = observations.snapshot.procs
                if recent.ended:  # ended processes stay a moment in the tree, dimmed, under their parent: as leaves,
                    parents = {p.ppid for p in procs.values()}  # never as a live one's parent (a torn read)
                    procs = {**{pid: ended.proc for pid, ended in recent.ended.items() if pid not in parents}, **procs}
                rows = build_rows(procs, view.process_filter, view.collapsed, view.sort, hide_kernel=view.hide_kernel)
                thread_rows: frozenset[Identity] = frozenset()
                left_out = 0
                if view.threads:
                    rows, thread_rows, left_out = with_threads(rows, getattr(self.collector, "proc", "/proc"),
                                                               rates=self._thread_rates)
                work = time.monotonic() - started
                if sweep:
                    period = max(self.interval, 1.5 * work)
                    next_sweep = started + period
                facts = self._facts = RowFacts.of(rows, observations, self._facts)
                self._built += 1
                self.on_update(Update(observations, rows, view, work, period, sweep, facts, self._built, recent,
                                      thread_rows, left_out))
            except Exception as error:
                if self.on_error is not None:
                    self.on_error(error)
                next_sweep = time.monotonic() + self.interval
            wait = None if self.paused else max(0.0, next_sweep - time.monotonic())
            self._wake.wait(wait)


__all__ = ["Poller", "Update", "View", "replace"]
