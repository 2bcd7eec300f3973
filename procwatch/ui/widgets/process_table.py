"""The process tree as a Line-API widget: only the visible rows are rendered, from a list swapped in per refresh."""

from __future__ import annotations

from collections.abc import Hashable

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from procwatch.engine.escape import printable
from procwatch.engine.lineage import Observations
from procwatch.engine.model import Identity, ProcInfo
from procwatch.engine.stat import format_stat
from procwatch.engine.tree import Row
from procwatch.engine.words import format_bytes, format_cpu_time, markers
from procwatch.ui.keys import TABLE_KEYS, bindings
from procwatch.view.rows import COMMAND_LIMIT, RowFacts, fit_cells

HEADER = f"{'PID':>7} {'USER':<8} {'STAT':<5} {'CPU%':>5} {'RSS':>6} {'TIME':>8}  COMMAND"
COMMAND_COLUMN = len(HEADER) - len("COMMAND")
STRIP_CACHE_SIZE = 1000  # strips of recently drawn lines: a few screens, scrolled back and forth


class ProcessTable(ScrollView, can_focus=True):
    """Rows come from `show()`; the cursor follows a process identity, never a row index."""

    COMPONENT_CLASSES = {
        "process-table--header",
        "process-table--cursor",
        "process-table--zombie",
        "process-table--reaper",
        "process-table--orphan",
        "process-table--disk",
        "process-table--stopped",
        "process-table--running",
        "process-table--context",
        "process-table--kernel",
        "process-table--guide",
        "process-table--marker",
    }

    DEFAULT_CSS = """
    ProcessTable { background: $surface; }
    ProcessTable > .process-table--header { background: $panel; color: $text; text-style: bold; }
    ProcessTable > .process-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    ProcessTable:blur > .process-table--cursor { background: $block-cursor-blurred-background; }
    ProcessTable > .process-table--zombie { color: $error; text-style: bold; }
    ProcessTable > .process-table--reaper { color: $warning; text-style: bold; }
    ProcessTable > .process-table--orphan { color: $accent; }
    ProcessTable > .process-table--disk { color: $error; }
    ProcessTable > .process-table--stopped { color: $warning; }
    ProcessTable > .process-table--running { color: $success; }
    ProcessTable > .process-table--context { color: $text-disabled; }
    ProcessTable > .process-table--kernel { color: $text-muted; }
    ProcessTable > .process-table--guide { color: $text-muted; }
    ProcessTable > .process-table--marker { text-style: italic; }
    """

    BINDINGS = bindings(TABLE_KEYS)

    class CursorMoved(Message):
        """The selected process changed (or its data did)."""

        def __init__(self, proc: ProcInfo | None) -> None:
            super().__init__()
            self.proc = proc

    class ToggleRequested(Message):
        def __init__(self, identity: Identity, collapse: bool | None) -> None:
            super().__init__()
            self.identity = identity
            self.collapse = collapse  # None: toggle

    class SelectedExited(Message):
        def __init__(self, gone: ProcInfo, now: ProcInfo | None) -> None:
            super().__init__()
            self.gone = gone
            self.now = now

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[Row] = []
        self.observations: Observations | None = None
        self._index: dict[Identity, int] = {}
        self.cursor: Identity | None = None
        self._cursor_proc: ProcInfo | None = None
        self.empty_message = ""  # shown when there are no rows
        self.labels: dict[Identity, str] = {}  # trusted words shown instead of a command line (sandbox demos)
        # Repaint only what changed (see "partial repaint" below): strips by (line key, scroll_x, width), and
        # the key of what each screen line shows now.
        self._strips: LRUCache[tuple[Hashable, int, int], Strip] = LRUCache(STRIP_CACHE_SIZE)
        self._drawn: dict[int, Hashable] = {}
        self.rows_rendered = 0  # rows drawn from scratch (not from the strip cache): tests read it

    # -- data -----------------------------------------------------------------------------------------------
    @property
    def cursor_index(self) -> int:
        return self._index.get(self.cursor, 0) if self.cursor is not None else 0

    @property
    def selected(self) -> ProcInfo | None:
        return self.rows[self.cursor_index].proc if self.rows else None

    def show(self, rows: list[Row], observations: Observations, facts: RowFacts | None = None) -> None:
        """Swap in new rows; keep the cursor on its process and that process at the same screen line.
        `facts` (index, widths) are computed off the UI thread by the poller; computed here when absent."""
        facts = facts or RowFacts.of(rows, observations)
        old_index = self.cursor_index
        screen_offset = old_index - round(self.scroll_y)
        previous = self._cursor_proc
        self.rows, self.observations = rows, observations
        self._index = facts.index
        if self.cursor not in self._index:
            self._relocate_cursor(previous, observations, old_index)
        self._set_virtual_size(Size(COMMAND_COLUMN + facts.command_width, len(rows) + 1))
        if rows:
            new_offset = self.cursor_index - screen_offset
            if new_offset != round(self.scroll_y):
                self.scroll_to(y=max(0, new_offset), animate=False, immediate=True, force=True)
            self._scroll_cursor_into_view()
        self._cursor_proc = self.selected
        self._refresh_changed_lines()
        self.post_message(self.CursorMoved(self._cursor_proc))

    def _relocate_cursor(self, previous: ProcInfo | None, observations: Observations, old_index: int) -> None:
        if not self.rows:
            self.cursor = None
            return
        if previous is None:
            self.cursor = self.rows[0].proc.identity
            return
        procs = observations.snapshot.procs
        alive = procs.get(previous.pid)
        exited = alive is None or alive.identity != previous.identity
        target: ProcInfo | None = None
        pid = previous.ppid
        for _ in range(64):  # nearest visible ancestor, bounded against ppid cycles
            ancestor = procs.get(pid)
            if ancestor is None:
                break
            if ancestor.identity in self._index:
                target = ancestor
                break
            pid = ancestor.ppid
        if target is None:
            target = self.rows[min(old_index, len(self.rows) - 1)].proc
        self.cursor = target.identity
        if exited:
            self.post_message(self.SelectedExited(previous, target))

    def select_pid(self, pid: int) -> bool:
        for identity in self._index:
            if identity[0] == pid:
                self._move_to(self._index[identity])
                return True
        return False

    # -- cursor ---------------------------------------------------------------------------------------------
    def _move_to(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(index, len(self.rows) - 1))
        self.cursor = self.rows[index].proc.identity
        self._cursor_proc = self.rows[index].proc
        self._scroll_cursor_into_view()
        self._refresh_changed_lines()
        self.post_message(self.CursorMoved(self._cursor_proc))

    def _scroll_cursor_into_view(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        index, top = self.cursor_index, round(self.scroll_y)
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True, force=True)
        elif index >= top + visible:
            self.scroll_to(y=index - visible + 1, animate=False, immediate=True, force=True)

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor_index + delta)

    def action_cursor_page(self, direction: int) -> None:
        self._move_to(self.cursor_index + direction * max(1, self.scrollable_content_region.height - 2))

    def action_cursor_to(self, index: int) -> None:
        self._move_to(index if index >= 0 else len(self.rows) - 1)

    def action_pan(self, columns: int) -> None:
        self.scroll_to(x=max(0, round(self.scroll_x) + columns), animate=False, immediate=True, force=True)

    def action_fold(self) -> None:
        self._request_toggle(None)

    def action_collapse(self) -> None:
        row = self.rows[self.cursor_index] if self.rows else None
        if row is None:
            return
        if row.children and not row.collapsed:
            self._request_toggle(True)
        else:  # already collapsed or a leaf: go to the parent, like a file tree
            parent = self.observations.snapshot.get(row.proc.ppid) if self.observations else None
            if parent is not None and parent.identity in self._index:
                self._move_to(self._index[parent.identity])

    def action_expand(self) -> None:
        row = self.rows[self.cursor_index] if self.rows else None
        if row is not None and row.collapsed:
            self._request_toggle(False)

    def _request_toggle(self, collapse: bool | None) -> None:
        row = self.rows[self.cursor_index] if self.rows else None
        if row is not None and (row.children or row.collapsed):
            self.post_message(self.ToggleRequested(row.proc.identity, collapse))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        index = round(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self.rows):
            row = self.rows[index]
            self._move_to(index)
            on_guide = offset.x + round(self.scroll_x) < COMMAND_COLUMN + len(row.guide) + 2
            if event.chain == 2 or (on_guide and offset.x + round(self.scroll_x) >= COMMAND_COLUMN):
                self._request_toggle(None)

    # -- partial repaint ------------------------------------------------------------------------------------
    # A screen line is drawn from its key: everything it shows apart from styles, scroll_x and width. A refresh
    # repaints only the lines whose key changed, and a strip is rendered only for a key not seen recently: on an
    # idle machine a refresh draws nothing (profile at ~100 processes: the whole-screen repaint and the layout
    # pass before it were most of procwatch's CPU).
    def _line_key(self, y: int) -> Hashable:
        """What screen line y (0: the header) shows; equal keys draw equal strips."""
        if y == 0:
            return HEADER
        index = round(self.scroll_y) + y - 1
        if index >= len(self.rows):
            return ("empty", self.empty_message) if index == 0 and y == 1 and self.empty_message else ("blank",)
        row = self.rows[index]
        p = row.proc
        words = tuple(markers(p, self.observations)) if self.observations else ()
        return (p, row.guide, row.context, row.collapsed, row.hidden, index == self.cursor_index,
                self.labels.get((p.pid, p.start_ticks)), self._row_style(row), words)  # all that _render_row reads

    def _refresh_changed_lines(self) -> None:
        """Repaint the visible lines whose key differs from what is drawn there (none when nothing changed)."""
        height, width = self.size.height, self.size.width
        drawn = self._drawn
        for y in range(1, height):
            if drawn.get(y) != self._line_key(y):
                self.refresh(Region(0, y, width, 1))

    def _set_virtual_size(self, size: Size) -> None:
        """A new scroll range without the layout pass of the whole screen that Textual's reactive asks for. The
        scrollbars are updated here, each only when its own range changed (Textual's _scroll_update repaints both
        every time); one that appears or goes asks for the layout itself."""
        old = self.virtual_size
        if size == old:
            return
        self.set_reactive(ScrollView.virtual_size, size)
        self._refresh_scrollbars()
        width, height = self.container_size
        if self.show_vertical_scrollbar and size.height != old.height:
            self.vertical_scrollbar.window_virtual_size = size.height  # reactives: a repaint when they change
            self.vertical_scrollbar.window_size = height - self.scrollbar_size_horizontal
        if self.show_horizontal_scrollbar and size.width != old.width:
            self.horizontal_scrollbar.window_virtual_size = size.width
            self.horizontal_scrollbar.window_size = width - self.scrollbar_size_vertical
        self.scroll_x = self.validate_scroll_x(self.scroll_x)
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # a theme, focus (the blurred cursor) or CSS change: every strip is stale
        self._drawn.clear()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x = round(self.scroll_x)
        key = self._line_key(y)
        self._drawn[y] = key
        cache_key = (key, scroll_x, width)
        strip = self._strips.get(cache_key)
        if strip is None:
            strip = self._strips[cache_key] = self._draw_line(y, scroll_x, width)
        return strip

    # -- rendering ------------------------------------------------------------------------------------------
    def _draw_line(self, y: int, scroll_x: int, width: int) -> Strip:
        if y == 0:
            style = self.get_component_rich_style("process-table--header")
            return Strip([Segment(HEADER, style)]).crop_extend(scroll_x, scroll_x + width, style)
        index = round(self.scroll_y) + y - 1
        base = self.rich_style
        if index >= len(self.rows):
            if index == 0 and y == 1 and self.empty_message:
                return Strip([Segment(self.empty_message, base)]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        cursor = self.get_component_rich_style("process-table--cursor") if index == self.cursor_index else None
        self.rows_rendered += 1
        strip = self._render_row(self.rows[index], base, cursor)
        return strip.crop_extend(scroll_x, scroll_x + width, base + cursor if cursor else base)

    def _row_style(self, row: Row) -> str | None:
        p = row.proc
        observations = self.observations
        if p.state == "Z":
            return "process-table--zombie"
        if observations is not None and p.pid in observations.unreaped:
            return "process-table--reaper"
        if observations is not None and p.pid in observations.orphans:
            return "process-table--orphan"
        if p.state == "D":
            return "process-table--disk"
        if p.state in "Tt":
            return "process-table--stopped"
        if row.context:
            return "process-table--context"
        if p.kernel_thread:
            return "process-table--kernel"
        if p.state == "R":
            return "process-table--running"
        return None

    def _render_row(self, row: Row, base: Style, cursor: Style | None) -> Strip:
        p = row.proc
        component = self._row_style(row)
        style = base + self.get_component_rich_style(component) if component else base
        guide_style = base + self.get_component_rich_style("process-table--guide")
        if cursor is not None:  # the cursor's colours win over the state colours
            style, guide_style = style + cursor, guide_style + cursor
        marker_style = style + self.get_component_rich_style("process-table--marker")
        command = self.labels.get((p.pid, p.start_ticks)) or printable(p.cmdline[:COMMAND_LIMIT])
        cells = (f"{p.pid:>7} {fit_cells(p.user, 8)} {format_stat(p):<5} {p.cpu_percent:>5.1f} "
                 f"{format_bytes(p.rss):>6} {format_cpu_time(p.cpu_ticks):>8}  ")
        segments = [Segment(cells, style), Segment(row.guide, guide_style)]
        if row.collapsed:
            segments.append(Segment(f"▸{row.hidden} ", marker_style))
        segments.append(Segment(command, style))
        words = markers(p, self.observations) if self.observations else []
        if row.context:
            words.append("context")
        if words:
            segments.append(Segment("  ‹" + "› ‹".join(words) + "›", marker_style))
        return Strip(segments)
