"""`--check`: monitoring-plugins semantics (check_procs is the reference). Pure functions over a snapshot, so the
same judgement serves the CLI and the tests. Standard library only; the words are in procwatch.engine.words.

Ranges are Nagios ranges, exactly as the monitoring-plugins guidelines define them:

    10      alert when the value is < 0 or > 10
    10:     alert when < 10
    ~:10    alert when > 10 (~ is minus infinity)
    10:20   alert when < 10 or > 20
    @10:20  alert when >= 10 and <= 20 (@ inverts: inside the range, ends included)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from procwatch.engine.model import ProcInfo

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


class NagiosRange(NamedTuple):
    start: float
    end: float
    inside: bool  # "@": alert inside start..end instead of outside
    text: str  # as given, for the perfdata

    def alerts(self, value: float) -> bool:
        outside = value < self.start or value > self.end
        return not outside if self.inside else outside


def parse_range(text: str) -> NagiosRange:
    """A Nagios range, or ValueError saying what is wrong with it."""
    body = text.strip()
    inside = body.startswith("@")
    if inside:
        body = body[1:]
    if not body:
        raise ValueError(f"{text!r} is not a range (e.g. 10, 5:, ~:3, @1:3)")
    start_text, colon, end_text = body.partition(":")
    if not colon:
        start_text, end_text = "0", body
    try:
        start = -math.inf if start_text == "~" else float(start_text or "0")
        end = math.inf if colon and end_text == "" else float(end_text)
    except ValueError:
        raise ValueError(f"{text!r} is not a range (e.g. 10, 5:, ~:3, @1:3)") from None
    if math.isnan(start) or math.isnan(end):
        raise ValueError(f"{text!r} is not a range (e.g. 10, 5:, ~:3, @1:3)")
    if start > end:
        raise ValueError(f"{text!r}: the start is above the end")
    return NagiosRange(start, end, inside, text.strip())


def judge(value: float, warning: NagiosRange | None, critical: NagiosRange | None) -> int:
    """CRITICAL wins over WARNING; no range, no alert."""
    if critical is not None and critical.alerts(value):
        return CRITICAL
    if warning is not None and warning.alerts(value):
        return WARNING
    return OK


class Worst(NamedTuple):
    """With --per-parent: the parent with most selected children."""

    pid: int
    name: str
    children: int


class Verdict(NamedTuple):
    status: int
    selected: int  # processes selected
    value: int  # what the ranges judged: count, or the worst parent's count with --per-parent
    worst: Worst | None
    parents: int  # distinct parents of the selected processes


def select(procs: Mapping[int, ProcInfo], matches: Callable[[ProcInfo], bool], exclude: Iterable[int] = (),
           min_age: float | None = None, ages: Callable[[ProcInfo], float] | None = None) -> list[ProcInfo]:
    """The processes the check counts: those the filters select, minus `exclude` (the check itself), and with
    `min_age`, only those `ages(p)` says have been in their state at least that long."""
    left_out = set(exclude)
    chosen = [p for p in procs.values() if p.pid not in left_out and matches(p)]
    if min_age is not None and ages is not None:
        chosen = [p for p in chosen if ages(p) >= min_age]
    return chosen


def verdict(chosen: list[ProcInfo], procs: Mapping[int, ProcInfo], warning: NagiosRange | None,
            critical: NagiosRange | None, per_parent: bool) -> Verdict:
    by_parent: dict[int, int] = {}
    for p in chosen:
        by_parent[p.ppid] = by_parent.get(p.ppid, 0) + 1
    worst = None
    if by_parent:
        pid, count = max(by_parent.items(), key=lambda item: (item[1], -item[0]))
        parent = procs.get(pid)
        worst = Worst(pid, parent.name if parent else "?", count)
    value = (worst.children if worst else 0) if per_parent else len(chosen)
    return Verdict(judge(value, warning, critical), len(chosen), value, worst, len(by_parent))


def worse(a: int, b: int) -> int:
    """The status of two results together, as monitoring-plugins' max_state_alt orders them: OK < UNKNOWN <
    WARNING < CRITICAL (a known problem outranks not knowing)."""
    order = (OK, UNKNOWN, WARNING, CRITICAL)
    return max(a, b, key=order.index)


def perf_range(r: NagiosRange | None) -> str:
    return "" if r is None else r.text


def perfdata(v: Verdict, warning: NagiosRange | None, critical: NagiosRange | None, per_parent: bool) -> str:
    """'label'=value;warn;crit;min; as the plugin guidelines define it: the judged value carries the ranges."""
    procs_ranges = ("", "") if per_parent else (perf_range(warning), perf_range(critical))
    out = f"procs={v.selected};{procs_ranges[0]};{procs_ranges[1]};0;"
    if per_parent:
        out += f" worst_parent={v.value};{perf_range(warning)};{perf_range(critical)};0;"
    out += f" parents={v.parents};;;0;"
    return out
