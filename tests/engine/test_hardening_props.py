"""Hardening, property-based (issue 6): the stat parser, the tree builder, the filters and printable() on arbitrary
input. Snapshots here may be impossible on a real system (ppid cycles, self-parents, missing parents): a racy sweep
can produce any of them, and the builder must still terminate and show every process exactly once."""

from __future__ import annotations

import gc
import os
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_tree import check_well_formed  # the independent guide/depth checker

from procwatch.engine.escape import printable
from procwatch.engine.fake import fake_proc, snapshot_of
from procwatch.engine.model import ProcInfo
from procwatch.engine.procfs import split_stat as parse_stat
from procwatch.engine.tree import FOLDED, GUIDE_LEVELS, ProcessFilter, Row, build_rows

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PIECES = ("├─ ", "└─ ", "│  ", "   ")

# ---------------------------------------------------------------------------------------------------------------
# parse_stat
# ---------------------------------------------------------------------------------------------------------------

# comm is at most 15 bytes in the kernel (TASK_COMM_LEN 16), but a parser must not rely on that; no NUL (the kernel
# cuts at NUL). Bias towards the bytes that break naive parsers.
HOSTILE_BYTES = st.sampled_from([b")", b"(", b" ", b"\n", b"\t", b") S 1 2 3", b"\xff", b"\xe9", b"\x1b[31m", b"0",
                                 b"\xe2\x80\xae", b"((", b"))"])
COMM = st.lists(st.one_of(HOSTILE_BYTES, st.binary(min_size=1, max_size=4)), max_size=12).map(b"".join).filter(
    lambda b: b"\0" not in b)
FIELD = st.integers(min_value=-(2**63), max_value=2**64 - 1)


@FAST
@given(comm=COMM, pid=st.integers(1, 4_194_304), state=st.sampled_from("RSDTtZXIWPK"),
       numbers=st.lists(FIELD, min_size=49, max_size=49))
def test_parse_stat_round_trips_any_comm_and_keeps_every_field(comm, pid, state, numbers):
    raw = (f"{pid} (".encode() + comm + b") " + state.encode() + b" "
           + b" ".join(str(n).encode() for n in numbers) + b"\n")
    name, fields = parse_stat(raw)
    assert os.fsencode(name) == comm  # byte-exact, whatever the comm holds
    assert fields[0] == state.encode()
    assert [int(f) for f in fields[1:]] == numbers  # nothing shifted, nothing lost, the newline is not a field
    assert len(fields) == 50


# ---------------------------------------------------------------------------------------------------------------
# printable
# ---------------------------------------------------------------------------------------------------------------

BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
ZERO_WIDTH = set("\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad")
UNSAFE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")  # controls, format (invisible), surrogates, line/para separators


def unsafe(char: str) -> bool:
    return unicodedata.category(char) in UNSAFE_CATEGORIES or char in BIDI or char in ZERO_WIDTH


EVERY_UNSAFE = [chr(c) for c in range(0x110000) if unsafe(chr(c))]
# Text that mixes ordinary characters with every kind of unsafe one (hypothesis rarely draws astral Cf on its own).
MIXED = st.lists(st.one_of(st.text(max_size=5), st.sampled_from(EVERY_UNSAFE),
                           st.sampled_from(sorted(BIDI | ZERO_WIDTH))), max_size=20).map("".join)


@settings(max_examples=500, deadline=None)
@given(MIXED)
def test_printable_output_has_no_control_bidi_or_invisible_characters(text):
    shown = printable(text)
    bad = [f"U+{ord(c):04X}" for c in shown if unsafe(c)]
    assert not bad, f"printable({text!r}) kept {bad}"
    shown.encode("utf-8")  # writable to any UTF-8 terminal: no lone surrogates


def test_printable_escapes_every_unsafe_code_point():
    """Exhaustive over Unicode (the property test samples; this one proves it for all ~2,000 code points)."""
    kept = [f"U+{ord(c):04X}" for c in EVERY_UNSAFE if any(unsafe(s) for s in printable(c))]
    assert not kept, f"printable() lets through: {kept[:20]} ({len(kept)} in all)"


@settings(max_examples=500, deadline=None)
# Unassigned code points (Cn) are left out: printable() follows Unicode 15's Cf list, and some of them (U+13439) are
# still unassigned in the Unicode this Python knows: escaping those is deliberate.
@given(st.text(st.characters(exclude_categories=(*UNSAFE_CATEGORIES, "Cn"))).filter(lambda t: not any(map(unsafe, t))))
def test_printable_leaves_safe_text_unchanged(text):
    assert printable(text) == text


@settings(max_examples=300, deadline=None)
@given(MIXED)
def test_printable_escapes_are_unambiguous_and_idempotent(text):
    shown = printable(text)
    assert printable(shown) == shown  # the escaped form is itself safe text
    for char in text:
        if unsafe(char) and ord(char) > 0xFFFF:
            # an astral code point must not print as \\u plus 5 hex digits (that reads as \\uXXXX + a digit)
            assert f"\\U{ord(char):08x}" in shown


# ---------------------------------------------------------------------------------------------------------------
# The tree builder on arbitrary snapshots
# ---------------------------------------------------------------------------------------------------------------

NAMES = ("init", "bash", "sshd", "sleep", "a b", "[x]", "z")


@st.composite
def snapshots(draw, max_size: int = 40) -> dict[int, ProcInfo]:
    """Random pids with random ppids: chains, cycles, self-parents, missing parents, pid 0 parents, duplicate
    names and command lines, kernel threads anywhere."""
    pids = draw(st.lists(st.integers(1, 80), unique=True, max_size=max_size))
    procs = {}
    for pid in pids:
        ppid = draw(st.one_of(st.sampled_from(pids), st.just(pid), st.integers(0, 100)))
        name = draw(st.sampled_from(NAMES))
        procs[pid] = fake_proc(
            pid, ppid, name, [name, str(draw(st.integers(0, 3)))] if draw(st.booleans()) else [],
            user=draw(st.sampled_from(("root", "alice", "bob"))), state=draw(st.sampled_from("RSDTZI")),
            kernel_thread=draw(st.booleans()) and draw(st.booleans()),
            cpu=draw(st.sampled_from((0.0, 1.0, 5.0))), rss=draw(st.sampled_from((0, 1 << 20, 4 << 20))),
            start_ticks=draw(st.integers(0, 3)))  # equal start ticks across pids: identities differ by pid only
    # dict order is arbitrary too: children may come before their parents
    order = draw(st.permutations(list(procs)))
    return {pid: procs[pid] for pid in order}


FILTERS = st.builds(
    ProcessFilter,
    users=st.frozensets(st.sampled_from(("root", "alice", "bob", "nobody")), max_size=2),
    states=st.frozensets(st.sampled_from("RSDTZI"), max_size=2),
    text=st.sampled_from(("", "", "a", "bash", "[x]", "1", "7", " 2", "zz")))


def ancestors(procs: dict[int, ProcInfo], pid: int) -> set[int]:
    """Every process above pid in the snapshot, following ppid until it leaves the snapshot or repeats."""
    found: set[int] = set()
    parent = procs[pid].ppid
    while parent in procs and parent not in found and parent != pid:
        found.add(parent)
        parent = procs[parent].ppid
    return found


def check_guides(rows: list[Row]) -> None:
    """The local shape of every guide: 3 cells per level, only the four pstree pieces, branch piece last, and a
    row is drawn with └─ exactly when no later sibling follows it."""
    for i, row in enumerate(rows):
        assert len(row.guide) == 3 * min(row.depth, GUIDE_LEVELS), (i, row.guide, row.depth)
        pieces = [row.guide[k : k + 3] for k in range(0, len(row.guide), 3)]
        if row.depth > GUIDE_LEVELS:  # the outer levels are folded into one column
            assert pieces[0] == FOLDED
            pieces = pieces[1:]
        assert all(piece in PIECES for piece in pieces), pieces
        if row.depth == 0:
            assert row.guide == ""
            continue
        assert pieces[-1] in ("├─ ", "└─ ") and all(piece in ("│  ", "   ") for piece in pieces[:-1])
        later = next((r for r in rows[i + 1 :] if r.depth <= row.depth), None)
        last_child = later is None or later.depth < row.depth
        assert pieces[-1] == ("└─ " if last_child else "├─ "), (i, row.guide)


@FAST
@given(procs=snapshots(), sort=st.sampled_from(("pid", "cpu", "mem", "name")))
def test_every_process_appears_exactly_once_with_well_formed_guides(procs, sort):
    rows = build_rows(procs, sort=sort)
    shown = [r.proc.pid for r in rows]
    assert sorted(shown) == sorted(procs), "a process is missing or shown twice"
    assert all(r.proc is procs[r.proc.pid] for r in rows)
    assert not any(r.context or r.collapsed or r.hidden for r in rows)
    check_guides(rows)
    check_well_formed(rows)


@FAST
@given(procs=snapshots())
def test_hiding_kernel_threads_removes_exactly_them(procs):
    rows = build_rows(procs, hide_kernel=True)
    assert sorted(r.proc.pid for r in rows) == sorted(pid for pid, p in procs.items() if not p.kernel_thread)
    check_guides(rows)
    check_well_formed(rows)


@FAST
@given(procs=snapshots(), process_filter=FILTERS, sort=st.sampled_from(("pid", "name")))
def test_a_row_is_shown_iff_it_matches_or_is_an_ancestor_of_a_match(procs, process_filter, sort):
    rows = build_rows(procs, process_filter, sort=sort)
    matched = {pid for pid, p in procs.items() if process_filter.matches(p)}
    expected = set(matched)
    for pid in matched:
        expected |= ancestors(procs, pid)
    shown = [r.proc.pid for r in rows]
    assert len(shown) == len(set(shown)), "a process is shown twice"
    assert set(shown) == expected
    for r in rows:  # context marks exactly the rows kept only as ancestors
        assert r.context == (process_filter.active and r.proc.pid not in matched)
    check_guides(rows)
    check_well_formed(rows)


@FAST
@given(procs=snapshots(), data=st.data())
def test_collapsed_rows_account_for_every_hidden_process(procs, data):
    assume(procs)
    collapse = data.draw(st.sets(st.sampled_from(sorted(procs)), max_size=5))
    identities = {procs[pid].identity for pid in collapse}
    identities.add((99999, 0))  # an identity no longer alive: ignored
    rows = build_rows(procs, collapsed=identities)
    shown = [r.proc.pid for r in rows]
    assert len(shown) == len(set(shown))
    # each process is either shown or counted as hidden under exactly one collapsed row
    assert len(rows) + sum(r.hidden for r in rows if r.collapsed) == len(procs)
    for r in rows:
        assert r.collapsed == (r.proc.pid in collapse and r.hidden > 0)
        assert r.collapsed or r.hidden == 0
    check_guides(rows)


# ---------------------------------------------------------------------------------------------------------------
# Linear building
# ---------------------------------------------------------------------------------------------------------------


class CountingProcs(dict):
    """A snapshot mapping that counts the builder's lookups: a measure of work that does not depend on the machine."""

    ops = 0

    def __getitem__(self, key):
        CountingProcs.ops += 1
        return super().__getitem__(key)

    def __contains__(self, key):
        CountingProcs.ops += 1
        return super().__contains__(key)

    def get(self, key, default=None):
        CountingProcs.ops += 1
        return super().get(key, default)


def random_forest(n: int, seed: int = 7) -> dict[int, ProcInfo]:
    import random

    rnd = random.Random(seed)
    procs = [fake_proc(1, 0, "init")]
    for pid in range(2, n + 1):  # a random recursive tree, some roots, some missing parents and a few cycles
        roll = rnd.random()
        ppid = pid + 1 if roll < 0.01 else 0 if roll < 0.02 else rnd.randint(1, pid - 1)
        procs.append(fake_proc(pid, ppid, f"n{pid % 97}", [f"n{pid % 97}", "x"], user=rnd.choice(("root", "bob"))))
    return {p.pid: p for p in procs}


def lookups(procs: dict[int, ProcInfo], **kwargs) -> int:
    counting = CountingProcs(procs)
    CountingProcs.ops = 0
    build_rows(counting, **kwargs)
    return CountingProcs.ops


@pytest.mark.parametrize("kwargs", [{}, {"process_filter": ProcessFilter(text="n5")}, {"sort": "name"},
                                    {"process_filter": ProcessFilter(users=frozenset({"bob"}))}],
                         ids=["plain", "text-filter", "sort-name", "user-filter"])
def test_building_does_work_linear_in_the_number_of_processes(kwargs):
    small, large = lookups(random_forest(5000), **kwargs), lookups(random_forest(10000), **kwargs)
    assert large < 2.5 * small, (small, large)
    # and the builder's wall time: loose (best of 5, GC off), it catches quadratic behaviour, not slowness: 4N
    # takes 4x the time of N when linear and 16x when quadratic, so a busy machine's 2x noise cannot fail it
    ratio = _time_ratio(random_forest(10000), random_forest(40000), **kwargs)
    assert ratio < 8, f"4N processes took {ratio:.1f}x the time of N"


def _best_time(procs, repeat=5, **kwargs) -> float:
    best = float("inf")
    gc.disable()
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            build_rows(procs, **kwargs)
            best = min(best, time.perf_counter() - started)
    finally:
        gc.enable()
    return best


def _time_ratio(small, large, **kwargs) -> float:
    ratio = float("inf")
    for _ in range(3):  # a busy machine can slow one measurement: keep the best of three attempts
        ratio = min(ratio, _best_time(large, **kwargs) / _best_time(small, **kwargs))
        if ratio < 8:
            break
    return ratio


def chain(n: int) -> dict[int, ProcInfo]:
    return snapshot_of([fake_proc(1, 0, "init")] + [fake_proc(i, i - 1, f"n{i}") for i in range(2, n + 1)]).procs


def test_deep_chain_lookups_are_linear():
    assert lookups(chain(8000)) < 2.5 * lookups(chain(4000))


def test_deep_chain_builds_in_linear_time_and_space():
    small, large = chain(2000), chain(8000)
    guide_chars = sum(len(r.guide) for r in build_rows(large))
    assert guide_chars < 100 * len(large), f"{guide_chars:,} guide characters for {len(large):,} processes"
    ratio = _time_ratio(small, large)
    assert ratio < 8, f"a chain four times as deep took {ratio:.1f}x the time (linear: 4x, quadratic: 16x)"
