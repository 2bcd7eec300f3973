"""The sandbox panel: pick a demo to fork, see the live demos and the narration of fork/exit/wait.
It only posts messages upward; the app owns the Sandbox and does the work."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.message import Message
from textual.widgets import DataTable, Label, OptionList, RichLog, Static
from textual.widgets.option_list import Option

from procwatch.engine.catalog import t, t_or
from procwatch.engine.model import ProcInfo
from procwatch.engine.stat import format_stat
from procwatch.engine.words import demo_fact, role_word, snippet_legend
from procwatch.sandbox import RECIPES, Demo, Recipe
from procwatch.ui.keys import SANDBOX_KEYS, bindings, sandbox_hint


def recipe_name(recipe: Recipe) -> str:
    return t_or(f"recipe.{recipe.key}.name", recipe.name)


def recipe_description(recipe: Recipe) -> str:
    return t_or(f"recipe.{recipe.key}.description", recipe.description)


def demo_description(demo: Demo) -> str:
    """What one demo process is, in the current language: its own fact (the record's says + fields), then its
    recipe's description."""
    about = recipe_description(RECIPES[demo.recipe])
    fact = demo_fact(demo.says, demo.fields)
    return t("sandbox.demo_about", fact=fact, description=about) if fact else about


class SandboxPanel(Vertical):
    # Wide screens: a column on the right (the footer's line left free, so the newest narration line shows).
    # Below NARROW columns (class "narrow", set by the app) the panel goes under the tree, full width, so the
    # tree keeps its columns and markers: recipes and demos side by side, the narration below them.
    DEFAULT_CSS = """
    SandboxPanel { dock: right; width: 62; border-left: solid $primary; display: none; padding: 0 1;
                   margin-bottom: 1; }
    SandboxPanel.open { display: block; }
    SandboxPanel > .title { text-style: bold; width: 100%; height: 3; }
    SandboxPanel > #sandbox-top { height: 17; }
    SandboxPanel > #sandbox-top { layout: vertical; }
    SandboxPanel #recipes { height: 9; border: none; }
    SandboxPanel #demos { height: 8; }
    SandboxPanel > #snippet { height: auto; max-height: 35%; display: none; color: $text; }
    SandboxPanel > #snippet.shown { display: block; }
    SandboxPanel.narrow > #snippet.shown { display: none; }
    SandboxPanel > #narration { height: 1fr; border-top: solid $primary-darken-2; }
    SandboxPanel > .hint { color: $text-muted; }
    SandboxPanel.narrow.short { height: 10; }
    SandboxPanel.narrow { dock: none; width: 100%; height: 12; border-left: none; border-top: solid $primary;
                          margin-bottom: 0; }
    SandboxPanel.narrow > .title { height: 1; }
    SandboxPanel.narrow > #sandbox-top { layout: horizontal; height: 5; }
    SandboxPanel.narrow #recipes { width: 24; height: 5; }
    SandboxPanel.narrow #demos { width: 1fr; height: 5; }
    SandboxPanel.narrow > #narration { height: 1fr; border-top: none; }
    """
    NARROW = 120  # columns below which the panel goes under the tree

    BINDINGS = bindings(SANDBOX_KEYS)

    class SpawnRequested(Message):
        def __init__(self, recipe: str) -> None:
            super().__init__()
            self.recipe = recipe

    class DemoAction(Message):
        def __init__(self, action: str, demo: Demo | None) -> None:
            super().__init__()
            self.action = action
            self.demo = demo

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.demo_rows: list[Demo] = []
        self.narration: deque[str] = deque(maxlen=500)
        self.about: Recipe | Demo | None = None  # what the title describes (None: the panel's own title)

    def compose(self) -> ComposeResult:
        yield Label(t("sandbox.title"), classes="title", id="sandbox-title")
        table: DataTable[str] = DataTable(id="demos", cursor_type="row", zebra_stripes=False)
        table.add_columns(*t("sandbox.columns").split("|"))
        with Container(id="sandbox-top"):
            yield OptionList(*self._recipe_options(), id="recipes")
            yield table
        yield Label(sandbox_hint(getattr(self.app, "keymap", None)), classes="hint")
        yield Static(id="snippet")  # the highlighted demo's snippet (not below NARROW columns: no room)
        yield RichLog(id="narration", max_lines=500, wrap=True, markup=False, highlight=False, min_width=20)

    def on_resize(self) -> None:
        """Narration that arrived while the panel was closed (no width) is wrapped again at the width it has now."""
        log = self.query_one(RichLog)
        log.clear()
        for line in self.narration:
            log.write(Text(line))

    def relabel(self) -> None:
        """The panel's own words in the current language (after a switch), the title's description with them;
        the narration stays as it was said."""
        self.show_title()
        self.query_one(".hint", Label).update(sandbox_hint(getattr(self.app, "keymap", None)))
        recipes = self.query_one("#recipes", OptionList)
        highlighted = recipes.highlighted
        with recipes.prevent(OptionList.OptionHighlighted):  # the same option again: the title keeps its subject
            recipes.clear_options()
            recipes.add_options(self._recipe_options())
            recipes.highlighted = highlighted
        table = self.query_one(DataTable)
        for column, label in zip(table.columns.values(), t("sandbox.columns").split("|"), strict=False):
            column.label = Text(label)
        table.refresh()

    @staticmethod
    def _recipe_options() -> list[Option]:
        return [Option(Text(f"{r.stat_shown:<4} {recipe_name(r)}"), id=key) for key, r in RECIPES.items()]

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        recipe = RECIPES.get(event.option.id or "")
        if recipe is None:
            return
        self.show_title(recipe)
        self.show_snippet(recipe)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        demo = self.selected_demo
        if demo is not None:
            self.show_title(demo)
            self.show_snippet(RECIPES[demo.recipe], demo.role)

    def show_title(self, about: Recipe | Demo | None = None) -> None:
        """The title describes a recipe, or one demo process (its own fact, then its recipe's description), in
        the current language; without an argument, what it described before, said again (after a switch)."""
        if about is not None:
            self.about = about
        about = self.about
        if isinstance(about, Demo):
            text = t("sandbox.demo_title", pid=about.pid, role=role_word(about.role),
                     description=demo_description(about))
        elif isinstance(about, Recipe):
            text = recipe_description(about)
        else:
            text = t("sandbox.title")
        self.query_one("#sandbox-title", Label).update(Text(text))

    def show_snippet(self, recipe: Recipe, role: str | None = None) -> None:
        """The tutorial-style code the demo acts out; a gutter marks which lines each role runs, and a selected
        demo process's own lines are bold (the others dim)."""
        widget = self.query_one("#snippet", Static)
        widget.set_class(bool(recipe.snippet), "shown")
        if recipe.snippet:
            widget.update(snippet_text(recipe, role))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.SpawnRequested(event.option.id))

    def narrate(self, text: str) -> None:
        self.narration.append(text)
        self.query_one(RichLog).write(Text(text))  # a Text, never markup

    def show_demos(self, demos: list[Demo], procs: Mapping[int, ProcInfo] | None) -> None:
        """Refresh the demo list; STAT comes from the last sweep when the identity matches."""
        table = self.query_one(DataTable)
        selected = self.selected_demo
        known = {demo.identity for demo in self.demo_rows}
        fresh = [demo for demo in demos if demo.identity not in known]
        if fresh:  # a demo just started: select it, so that `w` right after `z` acts on it
            selected = next((demo for demo in fresh if demo.main), fresh[0])
        self.demo_rows = demos
        table.clear()
        for demo in demos:
            proc = procs.get(demo.pid) if procs else None
            stat = format_stat(proc) if proc is not None and proc.identity == demo.identity else demo.stat_shown
            table.add_row(str(demo.pid), stat, role_word(demo.role), recipe_name(RECIPES[demo.recipe]))
        if selected in demos:
            table.move_cursor(row=demos.index(selected), animate=False)

    @property
    def selected_demo(self) -> Demo | None:
        table = self.query_one(DataTable)
        if not self.demo_rows or table.cursor_row is None or not 0 <= table.cursor_row < len(self.demo_rows):
            return None
        return self.demo_rows[table.cursor_row]

    def action_demo(self, action: str) -> None:
        self.post_message(self.DemoAction(action, self.selected_demo))


def snippet_text(recipe: Recipe, role: str | None = None) -> Text:
    """The snippet with a gutter of role initials per line (P parent, C child...), code shown literally."""
    roles = [r for r, _ in recipe.branches]
    width = len(roles)
    text = Text(snippet_legend(roles) + "\n", style="dim", no_wrap=True, overflow="ellipsis")
    mine = set(recipe.lines_of(role)) if role else set()
    for number, line in enumerate(recipe.snippet.splitlines(), 1):
        gutter = "".join(r[0].upper() if number in recipe.lines_of(r) else " " for r in roles)
        style = "" if not role else ("bold" if number in mine else "dim")
        text.append(f"{gutter:<{width}} │ ", style="dim")
        text.append(line + "\n", style=style)
    text.rstrip()
    return text
