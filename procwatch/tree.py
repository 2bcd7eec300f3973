"""The process forest in pstree order, filtered and flattened to rows with guides. Pure functions, no Textual.

Linear in the number of processes: one pass to group children, one DFS to emit rows. Inconsistent snapshots
(a ppid cycle from races, a parent missing) still give every process exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, NamedTuple

from procwatch.model import Identity, ProcInfo
from procwatch.stat import STATE_LETTERS

SORT_KEYS: dict[str, Callable[[ProcInfo], object]] = {
    "pid": lambda p: p.pid,
    "cpu": lambda p: (-p.cpu_percent, p.pid),
    "mem": lambda p: (-p.rss, p.pid),
    "name": lambda p: (p.name.lower(), p.pid),
}


@dataclass(frozen=True)
class ProcessFilter:
    """Users, state letters and text, combined with AND. Empty parts match everything."""

    users: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()
    text: str = ""

    @property
    def active(self) -> bool:
        return bool(self.users or self.states or self.text)

    def matches(self, p: ProcInfo) -> bool:
        if self.users and p.user not in self.users:
            return False
        if self.states and p.state not in self.states:
            return False
        if self.text:
            needle = self.text.lower()
            return needle in p.name.lower() or needle in p.cmdline.lower() or needle == str(p.pid)
        return True

    def describe(self) -> str:
        parts = []
        if self.users:
            parts.append("user " + ",".join(sorted(self.users)))
        if self.states:
            parts.append("state " + "".join(sorted(self.states, key=STATE_LETTERS.find)))
        if self.text:
            parts.append(f"text {self.text!r}")
        return " AND ".join(parts)


class Row(NamedTuple):
    proc: ProcInfo
    depth: int
    guide: str  # pstree prefix such as "│  ├─ "
    context: bool  # shown only because a descendant matches the filter
    children: int  # direct children in the (filtered) tree
    collapsed: bool  # children hidden by the user
    hidden: int  # descendants hidden under a collapsed row


def children_map(procs: Mapping[int, ProcInfo]) -> tuple[list[int], dict[int, list[int]]]:
    """(roots, parent pid -> child pids). A root is a process whose parent is not in the snapshot."""
    roots: list[int] = []
    children: dict[int, list[int]] = {}
    for pid, p in procs.items():
        if p.ppid in procs and p.ppid != pid:
            children.setdefault(p.ppid, []).append(pid)
        else:
            roots.append(pid)
    return roots, children


def build_rows(
    procs: Mapping[int, ProcInfo],
    process_filter: ProcessFilter = ProcessFilter(),
    collapsed: Iterable[Identity] = (),
    sort: str = "pid",
    hide_kernel: bool = False,
) -> list[Row]:
    """Flatten the forest to display rows, in pstree order with siblings sorted by `sort`."""
    if hide_kernel:
        procs = {pid: p for pid, p in procs.items() if not p.kernel_thread}
    roots, children = children_map(procs)
    key = SORT_KEYS[sort]
    collapsed = collapsed if isinstance(collapsed, (set, frozenset)) else set(collapsed)

    # Order: DFS from the roots. A ppid cycle has no root: its members are started as roots afterwards.
    visited: set[int] = set()
    keep: set[int] | None = None
    matched: set[int] = set()
    if process_filter.active:
        matched = {pid for pid, p in procs.items() if process_filter.matches(p)}
        keep = set()
        for pid in matched:  # walk up until an ancestor already kept: linear overall
            seen_here = 0
            while pid in procs and pid not in keep and seen_here <= len(procs):
                keep.add(pid)
                pid = procs[pid].ppid
                seen_here += 1

    def visible_children(pid: int) -> list[int]:
        kids = children.get(pid, ())
        if keep is not None:
            kids = [k for k in kids if k in keep]
        return sorted(kids, key=lambda k: key(procs[k]))

    def count_descendants(pid: int) -> int:
        total, stack = 0, [pid]
        while stack:
            for kid in visible_children(stack.pop()):
                if kid not in visited:
                    visited.add(kid)
                    total += 1
                    stack.append(kid)
        return total

    rows: list[Row] = []

    def emit_tree(root: int) -> None:
        # Iterative DFS: deep trees must not hit Python's recursion limit.
        stack: list[tuple[int, int, str, str]] = [(root, 0, "", "")]
        while stack:
            pid, depth, guide, inherited = stack.pop()
            if pid in visited:
                continue
            visited.add(pid)
            p = procs[pid]
            kids = [k for k in visible_children(pid) if k not in visited]
            is_collapsed = (p.pid, p.start_ticks) in collapsed and bool(kids)
            hidden = count_descendants(pid) if is_collapsed else 0
            rows.append(Row(p, depth, guide, keep is not None and pid not in matched, len(kids), is_collapsed, hidden))
            if is_collapsed:
                continue
            for index in range(len(kids) - 1, -1, -1):
                last = index == len(kids) - 1
                stack.append((kids[index], depth + 1, inherited + ("└─ " if last else "├─ "),
                              inherited + ("   " if last else "│  ")))

    for root in sorted(roots, key=lambda r: key(procs[r])):
        if keep is None or root in keep:
            emit_tree(root)
    for pid in sorted(procs):  # members of a ppid cycle
        if pid not in visited and (keep is None or pid in keep):
            emit_tree(pid)
    return rows
