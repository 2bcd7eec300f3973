"""The forest: pstree order (checked against pstree on a real tree), guides, filters, collapsing, cycles, sorting."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from support.polling import DEADLINE
from support.procs import LIFETIME

from procwatch.engine.collector import ProcfsCollector
from procwatch.engine.fake import fake_proc, snapshot_of
from procwatch.engine.tree import FOLDED, GUIDE_LEVELS, ProcessFilter, Row, build_rows, fold_guide

pytestmark = pytest.mark.usefixtures("no_leftover_children")


def check_well_formed(rows: list[Row]) -> None:
    """Guides and depths derived independently from the row sequence: a row's parent is the nearest earlier row
    one level up; its last 3 guide characters say whether a later sibling follows; each earlier 3-character
    column says whether that ancestor has a later sibling."""
    n = len(rows)
    has_next_sibling = [False] * n
    for i, row in enumerate(rows):
        for j in range(i + 1, n):
            if rows[j].depth <= row.depth:
                has_next_sibling[i] = rows[j].depth == row.depth and row.depth > 0
                break
    ancestors: list[int] = []  # indices of the current row's ancestors, by depth
    seen = set()
    for i, row in enumerate(rows):
        assert row.proc.pid not in seen, f"pid {row.proc.pid} shown twice"
        seen.add(row.proc.pid)
        assert row.depth <= len(ancestors), f"row {i} jumps a level"
        del ancestors[row.depth :]
        if row.depth:
            parent = rows[ancestors[-1]]
            assert row.proc.ppid == parent.proc.pid, f"row {i} is not under its parent"
        expected = "".join("│  " if has_next_sibling[a] else "   " for a in ancestors[1:])
        if row.depth:
            expected += "├─ " if has_next_sibling[i] else "└─ "
        expected = fold_guide(expected)
        assert row.guide == expected, f"row {i} (pid {row.proc.pid}): {row.guide!r} != {expected!r}"
        children = sum(1 for r in rows[i + 1 :] if r.depth == row.depth + 1 and _under(rows, i, r))
        assert row.children == children or row.collapsed
        ancestors.append(i)


def _under(rows: list[Row], i: int, row: Row) -> bool:
    return row.proc.ppid == rows[i].proc.pid


def pids(rows: list[Row]) -> list[int]:
    return [r.proc.pid for r in rows]


p = fake_proc
FOREST = [
    p(21, 20, "worker", ["worker", "--b"], user="alice", uid=1000, rss=9 << 20, cpu=1.0),
    p(1, 0, "init", ["/sbin/init"]),
    p(12, 10, "bash", ["-bash"], user="alice", uid=1000, cpu=0.5, rss=2 << 20),
    p(10, 1, "sshd", ["sshd: alice"], rss=5 << 20),
    p(11, 10, "Zed", ["zed", "--Watch"], user="alice", uid=1000, state="Z", cpu=7.0, rss=1 << 20),
    p(20, 1, "cron", ["cron", "-f"], rss=3 << 20, cpu=2.0),
    p(2, 0, "kthreadd", kernel_thread=True, session=0, pgrp=0, rss=0),
    p(13, 12, "vim", ["vim", "notes"], user="alice", uid=1000, state="T", rss=8 << 20),
    p(3, 2, "kworker/0:1", state="I", kernel_thread=True, session=0, pgrp=0, rss=0),
]
PROCS = snapshot_of(FOREST).procs


def render(rows: list[Row]) -> list[str]:
    return [f"{r.guide}{r.proc.pid} {r.proc.name}" + ("  (context)" if r.context else "") for r in rows]


def test_pstree_order_and_guides():
    rows = build_rows(PROCS)
    assert render(rows) == [
        "1 init",
        "├─ 10 sshd",
        "│  ├─ 11 Zed",
        "│  └─ 12 bash",
        "│     └─ 13 vim",
        "└─ 20 cron",
        "   └─ 21 worker",
        "2 kthreadd",
        "└─ 3 kworker/0:1",
    ]
    assert [r.depth for r in rows] == [0, 1, 2, 2, 3, 1, 2, 0, 1]
    assert [r.children for r in rows] == [2, 2, 0, 1, 0, 1, 0, 1, 0]
    check_well_formed(rows)


@pytest.mark.parametrize("sort, order", [
    ("pid", [1, 10, 11, 12, 13, 20, 21, 2, 3]),
    ("cpu", [1, 20, 21, 10, 11, 12, 13, 2, 3]),  # per sibling level: cron 2.0 before sshd 0.0
    ("mem", [1, 10, 12, 13, 11, 20, 21, 2, 3]),  # sshd 5M before cron 3M; bash 2M before Zed 1M
    ("name", [1, 20, 21, 10, 12, 13, 11, 2, 3]),  # case-insensitive: cron < sshd; bash < Zed
])
def test_sort_keys_apply_per_sibling_level(sort, order):
    rows = build_rows(PROCS, sort=sort)
    assert pids(rows) == order
    check_well_formed(rows)


def test_filters_keep_ancestors_as_context():
    rows = build_rows(PROCS, ProcessFilter(text="VIM"))  # case-insensitive
    assert render(rows) == ["1 init  (context)", "└─ 10 sshd  (context)", "   └─ 12 bash  (context)",
                            "      └─ 13 vim"]
    check_well_formed(rows)
    assert pids(build_rows(PROCS, ProcessFilter(text="--watch"))) == [1, 10, 11]  # cmdline, not just name


def test_filters_combine_with_and():
    alice = ProcessFilter(users=frozenset({"alice"}))
    assert [r.proc.pid for r in build_rows(PROCS, alice) if not r.context] == [11, 12, 13, 21]
    stopped_or_zombie = ProcessFilter(states=frozenset("TZ"))
    assert [r.proc.pid for r in build_rows(PROCS, stopped_or_zombie) if not r.context] == [11, 13]
    both = ProcessFilter(users=frozenset({"alice"}), states=frozenset("Z"), text="zed")
    rows = build_rows(PROCS, both)
    assert [(r.proc.pid, r.context) for r in rows] == [(1, True), (10, True), (11, False)]
    assert build_rows(PROCS, ProcessFilter(users=frozenset({"alice"}), states=frozenset("I"))) == []
    assert both.describe() == "user alice AND state Z AND text 'zed'"


def test_collapsed_identity_hides_descendants():
    sshd = PROCS[10]
    rows = build_rows(PROCS, collapsed={sshd.identity})
    assert pids(rows) == [1, 10, 20, 21, 2, 3]
    row = rows[1]
    assert (row.collapsed, row.hidden, row.children) == (True, 3, 2)
    check_well_formed(rows)
    # an identity from a previous process with the same pid does not collapse the new one
    stale = (10, sshd.start_ticks + 1)
    assert pids(build_rows(PROCS, collapsed=[stale])) == pids(build_rows(PROCS))
    # collapsing a leaf changes nothing
    leaf = build_rows(PROCS, collapsed={PROCS[13].identity})
    assert not any(r.collapsed for r in leaf) and len(leaf) == len(PROCS)


def test_ppid_cycle_and_missing_parents_show_every_process_once():
    procs = snapshot_of([
        p(1, 0, "init"),
        p(5, 6, "a"), p(6, 7, "b"), p(7, 5, "c"),  # a cycle from a racy read
        p(8, 8, "self"),  # its own parent
        p(9, 4242, "lost"),  # parent not in the snapshot: a root
        p(10, 9, "lost-child"),
    ]).procs
    rows = build_rows(procs)
    assert sorted(pids(rows)) == sorted(procs)
    assert len(rows) == len(procs)
    assert [r.proc.pid for r in rows if r.depth == 0][:3] == [1, 8, 9]
    check_well_formed([r for r in rows if r.proc.pid not in (5, 6, 7)])
    # a filter that matches inside the cycle terminates and keeps each member once
    cyc = build_rows(procs, ProcessFilter(text="b"))
    assert sorted(pids(cyc)) == [5, 6, 7]


def test_deep_chain_does_not_recurse():
    chain = [p(1, 0, "init")] + [p(i, i - 1, f"n{i}") for i in range(2, 5002)]
    rows = build_rows(snapshot_of(chain).procs, ProcessFilter(text="n5001"))
    assert len(rows) == 5001 and rows[-1].depth == 5000 and rows[-1].guide.endswith("└─ ")


def test_guides_deeper_than_the_limit_fold_their_outer_levels():
    chain = [p(1, 0, "init")] + [p(i, i - 1, f"n{i}") for i in range(2, 62)] + [p(100, 30, "side")]
    rows = build_rows(snapshot_of(chain).procs)
    check_well_formed(rows)
    deepest = rows[-1] if rows[-1].proc.pid == 61 else next(r for r in rows if r.proc.pid == 61)
    assert deepest.depth == 60 and len(deepest.guide) == 3 * GUIDE_LEVELS and deepest.guide.startswith(FOLDED)


def test_real_snapshot_is_well_formed():
    snapshot = ProcfsCollector().sweep()
    rows = build_rows(snapshot.procs)
    assert sorted(pids(rows)) == sorted(snapshot.procs)
    check_well_formed(rows)


# A real tree: this helper runs `width` children, the second of which is again this helper one level down.
TREE = f"""
import subprocess, sys
depth, width, code = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
kids = []
for i in range(width):
    if depth > 1 and i == 1:
        kid = subprocess.Popen([sys.executable, "-c", code, str(depth - 1), str(width), code],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        kid.stdout.readline()
    else:
        kid = subprocess.Popen(["sleep", "{LIFETIME}"])
    kids.append(kid)
print("ready", flush=True)
sys.stdin.read()
for kid in kids:
    if kid.stdin:
        kid.stdin.close()
    else:
        kid.kill()
for kid in kids:
    kid.wait()
"""


@pytest.mark.skipif(shutil.which("pstree") is None, reason="pstree (psmisc) is not installed")
def test_order_matches_pstree_on_a_real_tree(children):
    top = children.python(TREE, "3", "3", TREE, stdin=subprocess.PIPE, exits_on_eof=True)
    snapshot = ProcfsCollector().sweep()
    result = subprocess.run(["pstree", "-p", "-n", "-T", str(top.pid)], capture_output=True, text=True,
                            timeout=DEADLINE, check=True)
    expected = [int(pid) for pid in re.findall(r"\((\d+)\)", result.stdout)]
    assert len(expected) == 10
    rows = build_rows(snapshot.procs)
    start = pids(rows).index(top.pid)
    subtree = [rows[start], *list(_take_subtree(rows, start))]
    assert pids(subtree) == expected
    assert [r.proc.name for r in subtree].count("sleep") == 7


def _take_subtree(rows: list[Row], start: int):
    for row in rows[start + 1 :]:
        if row.depth <= rows[start].depth:
            return
        yield row
