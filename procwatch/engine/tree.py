"""The process forest in pstree order, filtered and flattened to rows with guides. Pure functions, no Textual.

Linear in the number of processes: one pass to group children, one DFS to emit rows. Inconsistent snapshots
(a ppid cycle from races, a parent missing) still give every process exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from procwatch.engine.model import Identity, ProcInfo
from procwatch.engine.stat import STATE_LETTERS

SORT_KEYS: dict[str, Callable[[ProcInfo], Any]] = {
    "pid": lambda p: p.pid,
    "cpu": lambda p: (-p.cpu_percent, p.pid),  # since the last sweep: --once, with one sweep, sorts by "time"
    "time": lambda p: (-p.cpu_ticks, p.pid),  # CPU time used since start
    "mem": lambda p: (-p.rss, p.pid),
    "name": lambda p: (p.name.lower(), p.pid),
}


@dataclass(frozen=True)
class ProcessFilter:
    """Users, state letters, text, units and a cgroup substring, combined with AND. Empty parts match everything."""

    users: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()
    text: str = ""
    units: frozenset[str] = frozenset()  # systemd units / containers, as cgroup_unit() names them
    cgroup: str = ""  # a substring of the cgroup path

    @property
    def active(self) -> bool:
        return bool(self.users or self.states or self.text or self.units or self.cgroup)

    @property
    def needs_cgroups(self) -> bool:
        return bool(self.units or self.cgroup)

    def matches(self, p: ProcInfo) -> bool:
        return _matcher(self, {p.pid: p})(p.pid)

    def describe(self) -> str:
        parts = []
        if self.users:
            parts.append("user " + ",".join(sorted(self.users)))
        if self.states:
            parts.append("state " + "".join(sorted(self.states, key=STATE_LETTERS.find)))
        if self.text:
            parts.append(f"text {self.text!r}")
        if self.units:
            parts.append("unit " + ",".join(sorted(self.units)))
        if self.cgroup:
            parts.append(f"cgroup {self.cgroup!r}")
        return " AND ".join(parts)


UNIT_SUFFIXES = (".service", ".scope")


def cgroup_unit(path: str) -> str:
    """The unit a cgroup path belongs to: the innermost systemd service or scope (`ssh.service`,
    `session-3.scope`, `docker-1f2e….scope`), else the innermost slice, else the last component (a container
    runtime's own naming), else "-" (the root cgroup, or unknown)."""
    parts = [part for part in path.split("/") if part]
    for part in reversed(parts):
        if part.endswith(UNIT_SUFFIXES):
            return part
    for part in reversed(parts):
        if part.endswith(".slice"):
            return part
    return parts[-1] if parts else "-"


GUIDE_LEVELS = 24  # guide columns drawn at most; deeper rows start with FOLDED for the outer levels
FOLDED = "⋯  "
FOLD_AT = 3 * GUIDE_LEVELS


def narrow_guide(guide: str) -> str:
    """The guide for a narrow screen: one cell per ancestor level instead of three ("│  │  └─ " -> "││└─ "),
    so that a deep tree still leaves room for the command and its markers at 80 columns."""
    if len(guide) < 6 or guide.startswith(FOLDED):
        return guide
    return guide[:-3:3] + guide[-3:]


def fold_guide(guide: str) -> str:
    """The guide as drawn: at most GUIDE_LEVELS columns, the outer ones folded into FOLDED."""
    if len(guide) <= 3 * GUIDE_LEVELS:
        return guide
    return FOLDED + guide[-3 * (GUIDE_LEVELS - 1) :]


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
    collapsed = collapsed if isinstance(collapsed, (set, frozenset)) else set(collapsed)

    keep: set[int] | None = None
    matched: set[int] = set()
    if process_filter.active:
        matched = set(filter(_matcher(process_filter, procs), procs))
        keep = set()
        for pid in matched:  # walk up until an ancestor already kept: linear overall
            seen_here = 0
            while pid in procs and pid not in keep and seen_here <= len(procs):
                keep.add(pid)
                pid = procs[pid].ppid
                seen_here += 1
        roots = [pid for pid in roots if pid in keep]
        kept_children = {}
        for pid, kids in children.items():
            if pid in keep:
                kids = [k for k in kids if k in keep]
                if kids:
                    kept_children[pid] = kids
        children = kept_children

    # Siblings sorted once, in place (the lists are ours): plain int order for pids, else a key per process.
    if sort == "pid":
        roots.sort()
        for kids in children.values():
            kids.sort()
    else:
        key = SORT_KEYS[sort]
        sort_key = {pid: key(p) for pid, p in procs.items()}.__getitem__
        roots.sort(key=sort_key)
        for kids in children.values():
            kids.sort(key=sort_key)

    rows: list[Row] = []
    hidden_under: set[int] = set()  # descendants hidden under collapsed rows
    make = tuple.__new__
    no_kids: list[int] = []

    def count_descendants(pid: int, visited: set[int] | None) -> int:
        total, stack = 0, [pid]
        while stack:
            for kid in children.get(stack.pop(), no_kids):
                if kid not in hidden_under and (visited is None or kid not in visited):
                    hidden_under.add(kid)
                    if visited is not None:
                        visited.add(kid)
                    total += 1
                    stack.append(kid)
        return total

    def emit_tree(root: int, visited: set[int] | None) -> None:
        # Iterative DFS: deep trees must not hit Python's recursion limit. From a root every process is reached
        # once (one parent each) and `visited` is None; only members of a ppid cycle need the visited checks.
        stack: list[tuple[int, int, str, str]] = [(root, 0, "", "")]
        pop, push, extend = stack.pop, stack.append, stack.extend
        while stack:
            pid, depth, guide, inherited = pop()
            if visited is not None:
                if pid in visited:
                    continue
                visited.add(pid)
            p = procs[pid]
            kids = children.get(pid, no_kids)
            if visited is not None and kids:
                kids = [k for k in kids if k not in visited]
            context = keep is not None and pid not in matched
            if not kids:
                rows.append(make(Row, (p, depth, guide, context, 0, False, 0)))
                continue
            if collapsed and (pid, p[2]) in collapsed:
                rows.append(make(Row, (p, depth, guide, context, len(kids), True, count_descendants(pid, visited))))
                continue
            rows.append(make(Row, (p, depth, guide, context, len(kids), False, 0)))
            depth += 1
            if len(inherited) >= FOLD_AT:  # keep guides bounded: a deep fork chain must not cost O(depth) a row
                inherited = FOLDED + inherited[-3 * (GUIDE_LEVELS - 2) :]
            push((kids[-1], depth, inherited + "└─ ", inherited + "   "))
            if len(kids) > 1:
                guide, inherited = inherited + "├─ ", inherited + "│  "
                extend([(kid, depth, guide, inherited) for kid in kids[-2::-1]])

    for root in roots:
        emit_tree(root, None)
    # A ppid cycle has no root: its members are started as roots afterwards, in pid order.
    if len(rows) + len(hidden_under) < (len(procs) if keep is None else len(keep)):
        visited = {row[0][0] for row in rows} | hidden_under
        for pid in sorted(procs if keep is None else keep):
            if pid not in visited:
                emit_tree(pid, visited)
    return rows


def _matcher(process_filter: ProcessFilter, procs: Mapping[int, ProcInfo]) -> Callable[[int], bool]:
    """ProcessFilter.matches by pid for one pass over a snapshot, with the needle lowered once."""
    users, states, text = process_filter.users, process_filter.states, process_filter.text.lower()
    units, cgroup = process_filter.units, process_filter.cgroup

    def matches(pid: int) -> bool:
        p = procs[pid]
        if users and p.user not in users and str(p.uid) not in users:  # a name, or a uid (a remote's)
            return False
        if states and p.state not in states:
            return False
        if units and cgroup_unit(p.cgroup) not in units:
            return False
        if cgroup and cgroup not in p.cgroup:
            return False
        if text:
            return text in p.name.lower() or text in p.cmdline.lower() or text == str(p.pid)
        return True

    return matches
