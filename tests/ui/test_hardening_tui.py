"""Hardening of the TUI (issue 6), with scripted snapshots: hostile names shown literally and aligned, inconsistent
snapshots (parent after child, PID reuse, ppid cycles), NO_COLOR, a light theme, resize storms, hostile filters.
The same hostile strings are run through real processes in test_hardening_system.py."""

from __future__ import annotations

import os
import time

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from rich.cells import cell_len
from support.tui import (
    applied,
    ended_pids,
    next_update,
    notifications,
    row_text,
    selected_details,
    shown_pids,
    table,
    wait_for,
)
from textual.color import Color

from procwatch.engine.escape import printable
from procwatch.engine.fake import FakeCollector, demo_processes, fake_proc, snapshot_of
from procwatch.engine.lineage import Reparented
from procwatch.engine.model import MAX_INTERVAL
from procwatch.ui.app import make_app
from procwatch.ui.widgets.panels import DetailsPanel
from procwatch.ui.widgets.process_table import COMMAND_COLUMN, COMMAND_LIMIT, HEADER

SIZE = (120, 36)

# The hostile strings of the issue, one per argument (os.fsdecode form: U+DCE9 is the undecodable byte 0xE9).
HOSTILE_ARGV = (
    "[b]x[/b]", "[@click=app.quit]", "[link=https://x]y[/link]", "\x1b[31mred", "\x1b]52;c;SGVsbG8=\x07",
    "line1\nline2", "tab\there", "zero\u200bwidth", "漢字テスト", "emoji🙂🎉", "caf\udce9", "",
)
BIG = "A" * (128 * 1024 - 1)  # the longest single argument Linux accepts (MAX_ARG_STRLEN includes the NUL)
HOSTILE_NAME = "[b]x[/b]\x1b[2J\n"  # comm: 15 bytes at most in the kernel, but the TUI must not rely on it


def hostile_procs():
    return [
        *demo_processes(),
        fake_proc(3000, 1211, HOSTILE_NAME, HOSTILE_ARGV, user="alice", uid=1000),
        fake_proc(3001, 1211, "big", ["big", BIG], user="alice", uid=1000),
        fake_proc(3002, 3000, "漢字", ["漢字" * 30, "🙂" * 10], user="alice", uid=1000),
        fake_proc(3003, 3000, "", [], user="alice", uid=1000),  # empty name, no command line
    ]


def app_for(*snapshots, **kwargs):
    """The app on scripted snapshots, each handed over by one sweep. With more than one, only the test asks for
    sweeps (next_update): a timed one (every second) would hand the next snapshot over before the test looked when
    the start-up was slow, and it selected a process that was already gone."""
    if len(snapshots) > 1:
        kwargs.setdefault("interval", MAX_INTERVAL)
    return make_app(FakeCollector(list(snapshots)), **kwargs)


async def started(pilot, app):
    await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
    await pilot.pause()


def visible_strips(app):
    t = table(app)
    return [t.render_line(y) for y in range(t.scrollable_content_region.height)]


def assert_lines_fill_the_width(app) -> None:
    width = table(app).scrollable_content_region.width
    for y, strip in enumerate(visible_strips(app)):
        assert strip.cell_length == width, f"line {y}: {strip.cell_length} cells in a {width}-cell table"
        assert cell_len(strip.text) == width, f"line {y}: the text is {cell_len(strip.text)} cells wide"


def command_cell_offset(app, pid: int) -> int:
    """The cell where the tree guide (then the command) of pid's row starts: it must be COMMAND_COLUMN."""
    t = table(app)
    row = next(r for r in t.rows if r.proc.pid == pid)
    text = t._render_row(row, t.rich_style, None).text
    start = text.index(row.guide + printable(row.proc.cmdline[:COMMAND_LIMIT]))
    return cell_len(text[:start])


# ---------------------------------------------------------------------------------------------------------------
# Hostile names and command lines
# ---------------------------------------------------------------------------------------------------------------

async def test_hostile_command_lines_are_literal_aligned_and_inert():
    app = app_for(snapshot_of(hostile_procs()))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        text = row_text(app, 3000)
        expected = ("[b]x[/b] [@click=app.quit] [link=https://x]y[/link] \\e[31mred \\e]52;c;SGVsbG8=\\x07 "
                    "line1\\nline2 tab\\there zero\\u200bwidth 漢字テスト emoji🙂🎉 caf\\xe9 ")
        assert expected in text  # markup not parsed, escapes shown, the empty argument keeps its space
        for row in table(app).rows:  # nothing that reaches the terminal can control it
            drawn = table(app)._render_row(row, table(app).rich_style, None).text
            assert not any(c in drawn for c in "\x1b\x07\n\t\r\u200b\x9b"), row.proc.pid
            assert "\udce9" not in drawn
        # every row's command starts in the same column, whatever came before it (wide or zero-width characters)
        for pid in (1, 1211, 3000, 3001, 3002, 3003):
            assert command_cell_offset(app, pid) == COMMAND_COLUMN, pid
        assert HEADER.index("COMMAND") == COMMAND_COLUMN
        table(app).select_pid(3002)  # the CJK row under the cursor, on screen
        await pilot.pause()
        assert_lines_fill_the_width(app)
        for x in (1, 7, 33, 100):  # scrolled sideways, a wide character may be cut in half: still exact widths
            table(app).scroll_to(x=x, animate=False, immediate=True, force=True)
            await pilot.pause()
            assert_lines_fill_the_width(app)
        table(app).scroll_to(x=0, animate=False, immediate=True, force=True)
        # clicking the markup text (where "[@click=app.quit]" is drawn) selects the row and does not quit
        index = shown_pids(app).index(3000)
        column = COMMAND_COLUMN + cell_len(table(app).rows[index].guide) + len("[b]x[/b] [@cl")
        await pilot.click(table(app), offset=(column, index + 1 - round(table(app).scroll_y)))
        await pilot.pause()
        assert app.is_running and table(app).selected.pid == 3000
        assert app.return_code is None


async def test_huge_command_line_is_cut_in_the_table_and_whole_in_details():
    app = app_for(snapshot_of(hostile_procs()))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert len(row_text(app, 3001)) < COMMAND_COLUMN + COMMAND_LIMIT + 100
        assert app.query_one(DetailsPanel).display
        started_at = time.monotonic()
        table(app).select_pid(3001)  # the details panel (open) shows all 128 KiB
        await pilot.pause()
        assert time.monotonic() - started_at < 5
        assert BIG in selected_details(app)
        assert BIG in str(app.query_one(DetailsPanel).render())
        assert_lines_fill_the_width(app)


async def test_markup_in_details_panel_and_notifications_is_text():
    first = snapshot_of(hostile_procs())
    second = snapshot_of([p for p in hostile_procs() if p.pid != 3000])
    app = app_for(first, second)
    async with app.run_test(size=SIZE, notifications=True) as pilot:  # toasts are drawn
        await started(pilot, app)
        table(app).select_pid(3000)
        await pilot.pause()
        details = selected_details(app)
        assert "[b]x[/b]\\e[2J\\n" in details and "[@click=app.quit]" in details
        assert "\x1b" not in details and "\x07" not in details
        await next_update(pilot, app)  # the hostile process exits: the notice names it, escaped, as text
        notice = next(n for n in notifications(app) if "3000" in n and "exited" in n)
        assert "[b]x[/b]\\e[2J\\n" in notice and "\x1b" not in notice
        await pilot.pause()
        toasts = [toast.render().plain for toast in app.screen.query("Toast")]  # what the toast draws
        assert any("process 3000 ([b]x[/b]\\e[2J\\n) exited" in shown for shown in toasts), toasts
        assert app.is_running


async def test_scrolling_right_reaches_the_end_of_a_wide_command_line():
    """The virtual width must count cells after escaping: CJK takes 2 cells, a raw byte 4 characters (\\xe9)."""
    wide = fake_proc(4000, 1, "漢漢", ["漢" * 150 + "END1"], user="alice", uid=1000)  # comm = argv[0]'s start:
    raw = fake_proc(4001, 1, "\udce9", ["\udce9" * 150 + "END2"], user="alice", uid=1000)  # nothing after it
    app = app_for(snapshot_of([fake_proc(1, 0, "init", ["/sbin/init"]), wide, raw]))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        t = table(app)
        width = t.scrollable_content_region.width
        for pid, end in ((4000, "END1"), (4001, "END2")):
            index = shown_pids(app).index(pid)
            drawn = t._render_row(t.rows[index], t.rich_style, None)
            t.scroll_to(x=min(t.max_scroll_x, drawn.cell_length - width), animate=False, immediate=True, force=True)
            await pilot.pause()
            line = t.render_line(index + 1).text
            assert line.rstrip().endswith(end), f"max_scroll_x={t.max_scroll_x}, row is {drawn.cell_length} cells"


async def test_wide_and_combining_user_names_keep_the_columns_aligned():
    procs = [fake_proc(1, 0, "init", ["/sbin/init"]),
             fake_proc(10, 1, "a", ["a"], user="ユーザー名前です", uid=1001),  # 8 characters, 16 cells
             fake_proc(11, 1, "b", ["b"], user="e\u0301" * 8, uid=1002)]  # 16 characters, 8 cells
    app = app_for(snapshot_of(procs))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert [command_cell_offset(app, pid) for pid in (1, 10, 11)] == [COMMAND_COLUMN] * 3


# ---------------------------------------------------------------------------------------------------------------
# Inconsistent snapshots
# ---------------------------------------------------------------------------------------------------------------

async def test_parent_appearing_after_its_child():
    init = fake_proc(1, 0, "init", ["/sbin/init"])
    child = fake_proc(60, 59, "child", ["child"], session=59)
    parent = fake_proc(59, 1, "parent", ["parent"])
    # sweep 1 read the child, then the parent was not there yet (it is listed later); sweep 2 has both, the child
    # first in the mapping (a parent with a higher position than its child, as after PID wrap-around)
    app = app_for(snapshot_of([init, child]), snapshot_of([child, init, parent]))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert sorted(shown_pids(app)) == [1, 60]
        table(app).select_pid(60)
        await next_update(pilot, app)
        rows = table(app).rows
        assert [r.proc.pid for r in rows] == [1, 59, 60]
        assert rows[2].depth == rows[1].depth + 1 and rows[2].guide.endswith("└─ ")
        assert table(app).selected.pid == 60  # the cursor stayed on its process
        assert 60 not in app.last.observations.orphans  # same parent in both sweeps: not an orphan
        assert not any("exited" in n for n in notifications(app))


async def test_pid_reuse_is_a_new_identity_not_a_reparenting():
    """PID 50 exits and is reused by another process (new start time, another parent) between two sweeps."""
    base = [fake_proc(1, 0, "init", ["/sbin/init"]), fake_proc(10, 1, "bash", ["-bash"])]
    old = fake_proc(50, 10, "old", ["old"], session=10, start_ticks=5000)
    new = fake_proc(50, 1, "new", ["new"], session=50, start_ticks=6000)  # a session leader: not a likely orphan
    app = app_for(snapshot_of([*base, old]), snapshot_of([*base, new]))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        table(app).select_pid(50)
        await next_update(pilot, app)
        observations = app.last.observations
        assert 50 not in observations.orphans, observations.orphans.get(50)
        assert not [e for e in observations.events if isinstance(e, Reparented) and e.identity[0] == 50]
        assert "orphan" not in row_text(app, 50)
        assert shown_pids(app).count(50) == 1
        # the selected process exited (its PID now names another one): the cursor says so and moves to its parent
        assert table(app).selected.identity == (10, 1000)
        assert any("50 (old) exited" in n for n in notifications(app))


async def test_ppid_cycles_and_self_parents_show_every_process_once_and_do_not_hang():
    procs = [fake_proc(1, 0, "init", ["/sbin/init"]),
             fake_proc(70, 72, "a", ["a"]), fake_proc(71, 70, "b", ["b"]), fake_proc(72, 71, "c", ["c"]),
             fake_proc(73, 73, "self", ["self"]), fake_proc(74, 73, "under-self", ["under-self"]),
             fake_proc(75, 9999, "lost", ["lost"]), fake_proc(76, 70, "hangs-off-cycle", ["x"])]
    second = [p for p in procs if p.pid != 72]  # the cycle member under the cursor disappears
    app = app_for(snapshot_of(procs), snapshot_of(second))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert sorted(shown_pids(app)) == sorted(p.pid for p in procs)
        table(app).select_pid(72)
        await next_update(pilot, app)
        assert sorted(shown_pids(app)) == sorted(p.pid for p in second)
        assert table(app).selected is not None and table(app).selected.pid != 72
        assert any("72 (c) exited" in n for n in notifications(app))
        await pilot.press("minus")  # collapse everything, cycle included
        await wait_for(pilot, lambda: app.last.view.collapsed and app.last.rows is table(app).rows,
                       what="collapse all")
        rows = table(app).rows
        # an ended process stays a moment, as a leaf: 72 was the parent of a live one (a torn read), so it is not shown
        assert 72 in app.last.recent.ended and 72 not in ended_pids(app)
        assert len(rows) + sum(r.hidden for r in rows) == len(second)
        await pilot.press("plus", "slash", *"hangs")  # a filter whose match hangs off the cycle
        await wait_for(pilot, lambda: 76 in shown_pids(app) and len(shown_pids(app)) == 2, what="filtered rows")
        assert shown_pids(app) == [70, 76]  # 72 is gone: 70 heads what is left of the cycle


# ---------------------------------------------------------------------------------------------------------------
# Terminals: NO_COLOR, a light theme, resize storms
# ---------------------------------------------------------------------------------------------------------------

MARKER_WORDS = {1401: "zombie, exit 3", 1400: "not reaping 2 zombies", 1500: "likely orphan", 1403: "uninterruptible",
                1600: "stopped", 1701: "traced"}


def filtered_styles(app, strip):
    background = Color.parse("black")
    for line_filter in app.get_line_filters():
        strip = strip.apply_filter(line_filter, background)
    return {(s.style.color, s.style.bgcolor, s.style.reverse) for s in strip if s.text.strip()}


async def test_no_color_keeps_every_marker_as_words_and_the_cursor_visible(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_for(snapshot_of(demo_processes()))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert app.no_color and app.get_line_filters()
        for pid, words in MARKER_WORDS.items():
            assert words in row_text(app, pid), pid
        table(app).select_pid(1)
        await pilot.pause()
        strips = visible_strips(app)
        cursor_line = 1 + table(app).cursor_index - round(table(app).scroll_y)
        others = set().union(*(filtered_styles(app, s) for i, s in enumerate(strips[1:], 1) if i != cursor_line))
        assert filtered_styles(app, strips[cursor_line]).isdisjoint(others), "the cursor row looks like the others"


async def test_light_theme_keeps_markers_and_contrast():
    app = app_for(snapshot_of(demo_processes()), theme="textual-light")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert app.theme == "textual-light" and not app.current_theme.dark
        for pid, words in MARKER_WORDS.items():
            assert words in row_text(app, pid), pid
        t = table(app)
        background = t.rich_style.bgcolor
        for component in sorted(t.COMPONENT_CLASSES):
            style = t.rich_style + t.get_component_rich_style(component)
            assert style.color != style.bgcolor, component  # never invisible text
            if component != "process-table--cursor":
                assert style.color is None or style.color != background, component
        assert_lines_fill_the_width(app)


class AlternatingCollector(FakeCollector):
    def sweep(self):
        snapshot = self.snapshots[self.sweeps % len(self.snapshots)]
        self.sweeps += 1
        return snapshot


async def test_resize_storm_while_refreshing():
    import random

    rnd = random.Random(6)
    busy = snapshot_of(hostile_procs())
    calm = snapshot_of(demo_processes()[:10])
    app = make_app(AlternatingCollector([busy, calm]), interval=0.25)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        table(app).select_pid(1211)
        sizes = [(40, 10), (300, 80)] + [(rnd.randint(40, 300), rnd.randint(10, 80)) for _ in range(18)]
        for width, height in sizes:  # 20 resizes, one event-loop turn apart
            await pilot.resize_terminal(width, height)
        seen = applied(app)
        await wait_for(pilot, lambda: applied(app) >= seen + 2, what="two refreshes on the last size")
        await pilot.pause()
        assert app.is_running and app._exception is None
        assert app.size == sizes[-1]
        assert_lines_fill_the_width(app)
        assert len(shown_pids(app)) == len(set(shown_pids(app)))
        for width, height in ((40, 10), (300, 80)):
            await pilot.resize_terminal(width, height)
            await next_update(pilot, app)
            assert table(app).scrollable_content_region.height >= 1
            assert_lines_fill_the_width(app)


# ---------------------------------------------------------------------------------------------------------------
# Hostile filters
# ---------------------------------------------------------------------------------------------------------------

async def test_filter_with_control_characters_and_markup_is_shown_escaped():
    from procwatch.engine.tree import ProcessFilter

    hostile = "\x1b]52;c;SGVsbG8=\x07[@click=app.quit]\u202e\n"
    app = make_app(FakeCollector([snapshot_of(demo_processes())]), process_filter=ProcessFilter(text=hostile))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert shown_pids(app) == []
        label = str(app.query_one("#filter-label").render())
        empty = table(app).render_line(1).text
        for shown in (label, empty):
            assert "[@click=app.quit]" in shown
            assert not any(c in shown for c in "\x1b\x07\u202e\n"), repr(shown)
        await pilot.click("#filter-label")
        await pilot.pause()
        assert app.is_running
