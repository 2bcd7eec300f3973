"""Steady-state CPU of the interactive tools at one size, measured two ways:

- together: every tool in a pane of its own at the same time, over the same window (noise on a shared machine hits
  them all alike, so the ratios hold even when the absolute numbers move);
- alone: one tool at a time, in rotation A B C D A B C D ..., the median per tool (no tool disturbs another).

CPU is that of the pane's process tree (procfs ticks, reaped children included), RSS is summed over the tree.
"""

from __future__ import annotations

import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from measure import Skip, TreeSample, sample_tree
from peers import Peer
from tmux import TmuxPane

PANE = (160, 45)
WARMUP = 4.0  # seconds before the window opens: start-up (a cold first sweep) is not steady state


@dataclass(frozen=True)
class Reading:
    percent: float  # of one core
    rss_kib: int
    hwm_kib: int


@dataclass
class CpuRun:
    together: dict[str, Reading] = field(default_factory=dict)
    alone: dict[str, list[Reading]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # tool -> why it has no numbers

    def alone_median(self, name: str) -> float | None:
        readings = self.alone.get(name)
        return statistics.median(r.percent for r in readings) if readings else None


def _sample(name: str, pane: TmuxPane) -> TreeSample:
    sample = sample_tree(pane.pane_pid) if pane.pane_pid else None
    if sample is None or not pane.alive():
        raise Skip(f"{name} exited: {pane.screen_tail()!r}")
    return sample


def measure(peers: list[Peer], window: float) -> tuple[dict[str, Reading], dict[str, str]]:
    """Start every tool at once, each in its own pane; their readings over the same window, and the problems of
    those that exited."""
    readings: dict[str, Reading] = {}
    problems: dict[str, str] = {}
    with ExitStack() as stack:
        panes = {peer.name: stack.enter_context(TmuxPane(peer.command(), *PANE)) for peer in peers}
        time.sleep(WARMUP)
        starts: dict[str, TreeSample] = {}
        for name, pane in panes.items():
            try:
                starts[name] = _sample(name, pane)
            except Skip as skip:
                problems[name] = str(skip)
        time.sleep(window)
        for name, start in starts.items():
            try:
                end = _sample(name, panes[name])
            except Skip as skip:
                problems[name] = str(skip)
                continue
            readings[name] = Reading(end.cpu_percent_since(start), end.rss_kib, end.hwm_kib)
    return readings, problems


def run(peers: list[Peer], window: float, rounds: int) -> CpuRun:
    """Together once, then alone in `rounds` rotations."""
    result = CpuRun()
    result.together, result.problems = measure(peers, window)
    for _ in range(rounds):
        for peer in peers:
            if peer.name in result.problems:
                continue
            readings, problems = measure([peer], window)
            result.problems.update(problems)
            for name, reading in readings.items():
                result.alone.setdefault(name, []).append(reading)
    return result
