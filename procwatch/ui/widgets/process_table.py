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

from procwatch.engine.catalog import t
from procwatch.engine.columns import BY_NAME, DEFAULT_TUI, Column, ColumnContext, mem_total_kb, renamed
from procwatch.engine.escape import printable
from procwatch.engine.history import NOTHING_RECENT, Recent
from procwatch.engine.lineage import Observations
from procwatch.engine.model import Identity, ProcInfo
from procwatch.engine.tree import Row, narrow_guide
from procwatch.engine.words import comm_marker, markers
from procwatch.ui.keys import TABLE_KEYS, bindings
from procwatch.view.rows import COMMAND_LIMIT, RowFacts, fit_cells

DEFAULT_COLUMNS: tuple[Column, ...] = tuple(BY_NAME[key] for key in DEFAULT_TUI)


def table_columns(columns: tuple[Column, ...]) -> tuple[Column, ...]:
    """The columns drawn before the command, which the TUI always draws last: it carries the tree."""
    return tuple(column for column in columns if column.key != "command")


def header_line(columns: tuple[Column, ...]) -> str:
    cells = [f"{c.header:>{c.width}}" if c.right else f"{c.header:<{c.width}}" for c in table_columns(columns)]
    return " ".join(cells) + "  COMMAND"


HEADER = header_line(DEFAULT_COLUMNS)
COMMAND_COLUMN = len(HEADER) - len("COMMAND")
# Table columns below which a row's markers go before its command, not after it, and the guides take one cell a
# level: at 80 columns a learner still reads "‹zombie, exit 3›" in a deep tree.
MARKERS_FIRST_BELOW = 120
STRIP_CACHE_SIZE = 1000  # strips of recently drawn lines: a few screens, scrolled back and forth
# Columns whose value is not all in the process record (the clock, or a /proc file read while drawing): a row
# showing one is drawn again at every refresh.
VOLATILE_COLUMNS = frozenset({"elapsed", "start", "wchan"})


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
        "process-table--ended",
        "process-table--new",
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
    ProcessTable > .process-table--ended { color: $text-disabled; text-style: strike; }
    ProcessTable > .process-table--new { color: $success; text-style: bold; }
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
        self.recent = NOTHING_RECENT  # new for a moment / ended and still shown
        self._facts: RowFacts | None = None  # of the rows shown
        self.procfs = "/proc"
        self.thread_rows: frozenset[Identity] = frozenset()  # rows that are threads (the threads view)
        self._mem_total_kb = 0
        # Repaint only what changed (see "partial repaint" below): strips by (line key, scroll_x, width), and
        # the key of what each screen line shows now.
        self._strips: LRUCache[tuple[Hashable, int, int], Strip] = LRUCache(STRIP_CACHE_SIZE)
        self._drawn: dict[int, Hashable] = {}
        self._volatile = False
        self.rows_rendered = 0  # rows drawn from scratch (not from the strip cache): tests read it
        self.set_columns(DEFAULT_COLUMNS)

    def set_columns(self, columns: tuple[Column, ...]) -> None:
        """Draw these columns (the command, with the tree, always comes last)."""
        self.columns = table_columns(columns)
        self.header = header_line(self.columns)
        self.command_column = len(self.header) - len("COMMAND")
        self._volatile = any(column.key in VOLATILE_COLUMNS for column in self.columns)
        if any(column.key == "mem" for column in self.columns) and not self._mem_total_kb:
            self._mem_total_kb = mem_total_kb(self.procfs)
        if self.rows and self.observations is not None:  # the same rows, facts and ended processes, new columns
            self.show(self.rows, self.observations, self._facts, self.recent)
        self._drawn.clear()
        self.refresh()  # the header too

    # -- data -----------------------------------------------------------------------------------------------
    @property
    def cursor_index(self) -> int:
        return self._index.get(self.cursor, 0) if self.cursor is not None else 0

    @property
    def selected(self) -> ProcInfo | None:
        return self.rows[self.cursor_index].proc if self.rows else None

    def show(self, rows: list[Row], observations: Observations, facts: RowFacts | None = None,
             recent: Recent = NOTHING_RECENT) -> None:
        """Swap in new rows; keep the cursor on its process and that process at the same screen line.
        `facts` (index, widths) are computed off the UI thread by the poller; computed here when absent."""
        facts = facts or RowFacts.of(rows, observations)
        self._facts = facts
        old_index = self.cursor_index
        screen_offset = old_index - round(self.scroll_y)
        previous = self._cursor_proc
        self.rows, self.observations, self.recent = rows, observations, recent
        self._index = facts.index
        ended = recent.ended.get(self.cursor[0]) if self.cursor is not None and recent.ended else None
        if self.cursor not in self._index or (ended is not None and ended.proc.identity == self.cursor):
            self._relocate_cursor(previous, observations, old_index)  # the cursor never rests on an ended row
        self._set_virtual_size(Size(self.command_column + facts.command_width, len(rows) + 1))
        if rows:
            new_offset = self.cursor_index - screen_offset
            if new_offset != round(self.scroll_y):
                self.scroll_to(y=max(0, new_offset), animate=False, immediate=True, force=True)
            self._scroll_cursor_into_view()
        self._cursor_proc = self.selected
        self._refresh_changed_lines()  # no CursorMoved: the app shows the details in the same batch (one frame)

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
        for _ in range(64):  # nearest visible ancestor still alive, bounded against ppid cycles
            ancestor = procs.get(pid)
            if ancestor is None:
                break
            if ancestor.identity in self._index and pid not in self.recent.ended:
                target = ancestor
                break
            pid = ancestor.ppid
        if target is None:  # the row now where it was, or the nearest one below (then above) that is not ended
            start = min(old_index, len(self.rows) - 1)
            order = [*range(start, len(self.rows)), *range(start - 1, -1, -1)]
            live = (self.rows[i].proc for i in order if not (self.recent.ended and self.ended(self.rows[i].proc)))
            target = next(live, self.rows[start].proc)
        self.cursor = target.identity
        if exited:
            self.post_message(self.SelectedExited(previous, target))

    def select_pid(self, pid: int) -> bool:
        """Put the cursor on the live process `pid` (an ended row shown for a moment does not count)."""
        for identity, index in self._index.items():
            if identity[0] == pid and not self._is_ended_row(index):
                self._move_to(index)
                return True
        return False

    def _is_ended_row(self, index: int) -> bool:
        return bool(self.recent.ended) and self.ended(self.rows[index].proc) is not None

    # -- cursor ---------------------------------------------------------------------------------------------
    def _move_to(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(index, len(self.rows) - 1))
        if self._is_ended_row(index):  # the cursor never rests on an ended row: the next live one that way
            step = 1 if index >= self.cursor_index else -1
            order = [*range(index, len(self.rows) if step > 0 else -1, step),
                     *range(index - step, -1 if step > 0 else len(self.rows), -step)]
            index = next((i for i in order if not self._is_ended_row(i)), index)
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
            on_guide = offset.x + round(self.scroll_x) < self.command_column + len(self._guide(row)) + 2
            if event.chain == 2 or (on_guide and offset.x + round(self.scroll_x) >= self.command_column):
                self._request_toggle(None)

    # -- partial repaint ------------------------------------------------------------------------------------
    # A screen line is drawn from its key: everything it shows apart from styles, scroll_x and width. A refresh
    # repaints only the lines whose key changed, and a strip is rendered only for a key not seen recently: on an
    # idle machine a refresh draws nothing (profile at ~100 processes: the whole-screen repaint and the layout
    # pass before it were most of procwatch's CPU). Whatever _render_row reads must be in the key.
    def _line_key(self, y: int) -> Hashable:
        """What screen line y (0: the header) shows; equal keys draw equal strips."""
        if y == 0:
            return self.header
        index = round(self.scroll_y) + y - 1
        if index >= len(self.rows):
            return ("empty", self.empty_message) if index == 0 and y == 1 and self.empty_message else ("blank",)
        row = self.rows[index]
        p = row.proc
        label, thread = self._label(p)
        clock = self.observations.snapshot.taken_at if self._volatile and self.observations else None
        return (p, row.guide, row.context, row.collapsed, row.hidden, index == self.cursor_index, label, thread,
                self._row_style(row), self._words_key(row, label, thread), self.size.width < MARKERS_FIRST_BELOW,
                self.columns, clock)

    def _words_key(self, row: Row, label: str | None, thread: bool) -> tuple[tuple[str, ...], str]:
        words, renamed_as = self._words(row, label, thread)
        return tuple(words), renamed_as

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
            return Strip([Segment(self.header, style)]).crop_extend(scroll_x, scroll_x + width, style)
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

    def ended(self, p: ProcInfo) -> str | None:
        """'exited' or 'reaped' for a process that is gone and still shown for a moment."""
        ended = self.recent.ended.get(p.pid)
        return ended.kind if ended is not None and ended.proc is p else None

    def _row_style(self, row: Row) -> str | None:
        p = row.proc
        observations = self.observations
        if self.recent.ended and self.ended(p):
            return "process-table--ended"
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
        if self.recent.new and p.identity in self.recent.new:
            return "process-table--new"
        return None

    def _label(self, p: ProcInfo) -> tuple[str | None, bool]:
        """(the words shown instead of the command line, whether the row is a thread)."""
        label = self.labels.get((p.pid, p.start_ticks))
        thread = bool(self.thread_rows) and (p.pid, p.start_ticks) in self.thread_rows
        return (printable(p.name) if thread else label), thread

    def _words(self, row: Row, label: str | None, thread: bool) -> tuple[list[str], str]:
        """The markers drawn with a row's command, and the comm of a process that renamed itself (drawn after the
        command, even where markers lead)."""
        p = row.proc
        words = markers(p, self.observations) if self.observations else []
        renamed_as = ""
        if thread:
            words.insert(0, t("marker.thread"))
        elif label is None and renamed(p):
            renamed_as = comm_marker(printable(p.name))
        if row.context:
            words.append(t("marker.context_short"))
        ended = self.ended(p) if self.recent.ended else None
        if ended is not None:
            words = [t(f"marker.{ended}")]
        elif self.recent.new and p.identity in self.recent.new:
            words.append(t("marker.new"))
        return words, renamed_as

    def _guide(self, row: Row) -> str:
        return narrow_guide(row.guide) if self.size.width < MARKERS_FIRST_BELOW else row.guide

    def _render_row(self, row: Row, base: Style, cursor: Style | None) -> Strip:
        p = row.proc
        component = self._row_style(row)
        style = base + self.get_component_rich_style(component) if component else base
        guide_style = base + self.get_component_rich_style("process-table--guide")
        if cursor is not None:  # the cursor's colours win over the state colours
            style, guide_style = style + cursor, guide_style + cursor
        marker_style = style + self.get_component_rich_style("process-table--marker")
        if cursor is not None:  # the marker's component style carries a background: the cursor's must win
            marker_style += cursor
        now = self.observations.snapshot.taken_at if self.observations else p.started
        label, thread = self._label(p)
        command = label or printable(p.cmdline[:COMMAND_LIMIT])
        context = ColumnContext(now, self._mem_total_kb, human=True, rates=True, proc=self.procfs)
        cells = []
        for column in self.columns:
            value = column.value(p, context)
            if column.right and value.isascii():
                cells.append(f"{value[-column.width:]:>{column.width}}")
            else:
                cells.append(fit_cells(value, column.width))
        segments = [Segment(" ".join(cells) + "  ", style), Segment(self._guide(row), guide_style)]
        if row.collapsed:
            segments.append(Segment(f"▸{row.hidden} ", marker_style))
        words, renamed_as = self._words(row, label, thread)
        if not words:
            segments.append(Segment(command, style))
        elif self.size.width < MARKERS_FIRST_BELOW:  # a narrow screen: the markers first, where they are seen
            segments += [Segment("‹" + "› ‹".join(words) + "› ", marker_style), Segment(command, style)]
        else:
            segments += [Segment(command, style), Segment("  ‹" + "› ‹".join(words) + "›", marker_style)]
        if renamed_as:
            segments.append(Segment(f"  ‹{renamed_as}›", marker_style))
        return Strip(segments)
