"""A refresh repaints only the table lines that changed, and nothing at all (no line, no layout pass) when nothing
did; what is on screen is still exactly what a full repaint would draw. Driven by a scripted source."""

from __future__ import annotations

import os

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from support.tui import applied, next_update, table, wait_for

from procwatch.engine.fake import FakeCollector, demo_processes, fake_proc, snapshot_of
from procwatch.ui.app import make_app

SIZE = (120, 36)


class Source(FakeCollector):
    """Sweeps return whatever snapshot the test put in `current`."""

    def __init__(self, procs) -> None:
        super().__init__([snapshot_of(procs)])
        self.current = self.snapshots[0]

    def sweep(self):
        self.sweeps += 1
        return self.current


class Watch:
    """Records which table lines Textual asks to render, and the screen's layout passes."""

    def __init__(self, app) -> None:
        self.lines: list[int] = []
        self.layouts = 0
        t, screen = table(app), app.screen
        render_line, refresh_layout = t.render_line, screen._refresh_layout

        def counting_render_line(y):
            self.lines.append(y)
            return render_line(y)

        def counting_refresh_layout(*args, **kwargs):
            self.layouts += 1
            return refresh_layout(*args, **kwargs)

        t.render_line = counting_render_line
        screen._refresh_layout = counting_refresh_layout

    def reset(self) -> None:
        self.lines.clear()
        self.layouts = 0


def shown_table(app) -> list[str]:
    """The table's lines as the screen shows them now (the compositor's output, from the widgets' line caches),
    without the scrollbars."""
    t = table(app)
    region = app.screen.find_widget(t).region
    content = t.scrollable_content_region
    strips = app.screen._compositor.render_strips()
    return [strips[y].text[region.x : region.x + content.width] for y in range(region.y, region.y + content.height)]


def full_repaint(app) -> list[str]:
    """What a repaint of every visible table line from scratch draws."""
    t = table(app)
    content = t.scrollable_content_region
    return [t._draw_line(y, round(t.scroll_x), content.width).text for y in range(content.height)]


def line_of(app, pid: int) -> int:
    """The screen line (0: the header) of a process."""
    t = table(app)
    return next(i for i, row in enumerate(t.rows) if row.proc.pid == pid) - round(t.scroll_y) + 1


async def started(pilot, app) -> Watch:
    """Once the start-up settled (the first update lays the screen out: scrollbars come, the details fill)."""
    await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
    await pilot.pause()
    await next_update(pilot, app)
    return Watch(app)


async def test_nothing_changed_nothing_drawn():
    source = Source(demo_processes())
    app = make_app(source, sandbox=False)
    async with app.run_test(size=SIZE) as pilot:
        watch = await started(pilot, app)
        rendered = table(app).rows_rendered
        for _ in range(3):
            await next_update(pilot, app)
        assert watch.lines == [] and watch.layouts == 0
        assert table(app).rows_rendered == rendered
        assert shown_table(app) == full_repaint(app)


async def test_one_row_changed_one_line_drawn():
    procs = demo_processes()
    source = Source(procs)
    app = make_app(source, sandbox=False)
    async with app.run_test(size=SIZE) as pilot:
        watch = await started(pilot, app)
        busy = [p._replace(cpu_percent=77.0, cpu_ticks=p.cpu_ticks + 500) if p.pid == 1701 else p for p in procs]
        source.current = snapshot_of(busy)
        await next_update(pilot, app)
        assert watch.lines == [line_of(app, 1701)] and watch.layouts == 0
        assert " 77.0 " in shown_table(app)[line_of(app, 1701)]
        assert shown_table(app) == full_repaint(app)


async def test_cursor_move_draws_the_two_lines_it_leaves_and_reaches():
    app = make_app(Source(demo_processes()), sandbox=False)
    async with app.run_test(size=SIZE) as pilot:
        watch = await started(pilot, app)
        await pilot.press("down")
        await pilot.pause()
        assert sorted(watch.lines) == [1, 2]  # (the details panel, showing another process, may lay out)
        assert table(app).cursor_index == 1
        assert shown_table(app) == full_repaint(app)


async def test_new_process_redraws_the_lines_below_it_and_the_cursor_stays():
    procs = demo_processes()
    source = Source(procs)
    app = make_app(source, sandbox=False)
    async with app.run_test(size=(120, 60)) as pilot:  # room for one more row: no scrollbar comes
        watch = await started(pilot, app)  # the cursor on the first row: no scrolling to keep it in its place
        source.current = snapshot_of([*procs, fake_proc(405, 1, "newcomer", ["newcomer"])])
        await next_update(pilot, app)
        first = line_of(app, 405)
        assert first > 1 and min(watch.lines) == first and 1 not in watch.lines
        assert table(app).selected.pid == 1
        assert shown_table(app) == full_repaint(app)


async def test_theme_change_redraws_every_row():
    app = make_app(Source(demo_processes()), sandbox=False, theme="textual-dark")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        rendered = table(app).rows_rendered
        app.theme = "textual-light"
        await pilot.pause()
        assert table(app).rows_rendered >= rendered + len(demo_processes())
        assert shown_table(app) == full_repaint(app)


async def test_blur_redraws_the_cursor_in_its_blurred_colours():
    app = make_app(Source(demo_processes()), sandbox=False)
    async with app.run_test(size=SIZE) as pilot:
        watch = await started(pilot, app)
        t = table(app)
        focused = t.get_component_rich_style("process-table--cursor")
        await pilot.press("slash")  # the filter box takes the focus
        await pilot.pause()
        assert not t.has_focus and 1 in watch.lines
        blurred = t.get_component_rich_style("process-table--cursor")
        assert blurred != focused
        cursor_line = t.render_line(1)
        assert any(segment.style is not None and segment.style.bgcolor == blurred.bgcolor
                   for segment in cursor_line)


async def test_scroll_range_follows_the_rows_without_a_layout_of_the_screen():
    procs = demo_processes()
    source = Source(procs)
    app = make_app(source, sandbox=False)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        t = table(app)
        more = [fake_proc(3000 + i, 1, f"extra{i}", [f"extra{i}"]) for i in range(40)]
        source.current = snapshot_of([*procs, *more])
        await next_update(pilot, app)
        assert t.show_vertical_scrollbar
        assert t.vertical_scrollbar.window_virtual_size == t.virtual_size.height == len(procs) + 40 + 1
        await pilot.press("end")
        await pilot.pause()
        last = t.rows[-1].proc
        assert t.selected == last and f"{last.pid} " in shown_table(app)[-1]
        assert shown_table(app) == full_repaint(app)
        source.current = snapshot_of(procs)  # the extra processes end (shown a moment longer, as ended)
        await next_update(pilot, app)
        assert t.scroll_y <= t.max_scroll_y and t.virtual_size.height == len(t.rows) + 1
        assert shown_table(app) == full_repaint(app)


async def test_a_clock_column_redraws_its_rows_at_every_refresh():
    """ELAPSED moves with the clock, not with the process record: its rows are drawn again at every refresh."""
    from procwatch.engine.columns import BY_NAME
    from procwatch.engine.fake import FAKE_NOW

    procs = demo_processes()
    source = Source(procs)
    app = make_app(source, sandbox=False)
    async with app.run_test(size=SIZE) as pilot:
        watch = await started(pilot, app)
        t = table(app)
        t.set_columns(tuple(BY_NAME[key] for key in ("pid", "elapsed", "command")))
        await pilot.pause()
        watch.reset()
        source.current = snapshot_of(procs, taken_at=FAKE_NOW + 65)
        await next_update(pilot, app)
        visible = min(len(t.rows), t.scrollable_content_region.height - 1)
        assert set(range(1, visible + 1)) <= set(watch.lines)
        assert shown_table(app) == full_repaint(app)
