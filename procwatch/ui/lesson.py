"""The guided lesson on screen: a panel under the summary that says, in the learner's language, what the current
step shows and what to watch; each step starts its demo and puts the cursor on it (procwatch.engine.lesson holds
the steps)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from procwatch.engine.catalog import t
from procwatch.engine.lesson import STEPS, Step
from procwatch.sandbox import RECIPES
from procwatch.sandbox.recipes import precheck

if TYPE_CHECKING:
    from procwatch.ui.app import ProcwatchApp


class LessonPanel(Static):
    # Short screens (class "short", below 32 rows) give the lesson three lines: the tree must stay in view.
    DEFAULT_CSS = """
    LessonPanel { height: auto; max-height: 6; display: none; background: $boost; padding: 0 1; }
    LessonPanel.open { display: block; }
    LessonPanel.short { max-height: 3; }
    """

    def show_step(self, number: int, step: Step | None, note: str = "") -> None:
        text = Text()
        if step is None:
            text.append(t("lesson.done"), style="bold")
            text.append("  " + t("lesson.keys"), style="dim")
        else:
            text.append(t("lesson.header", number=number, total=len(STEPS), title=t(f"lesson.{step.id}.title")),
                        style="bold")
            text.append("  " + t("lesson.keys") + "\n", style="dim")  # first: a short screen keeps three lines
            if note:
                text.append(note + "\n", style="italic")
            text.append(t(f"lesson.{step.id}.body"))
        self.update(text)


class LessonController:
    def __init__(self, app: ProcwatchApp) -> None:
        self.app = app
        self.index: int | None = None  # the step shown, None when the lesson is closed

    @property
    def panel(self) -> LessonPanel:
        return self.app.query_one(LessonPanel)

    @property
    def open(self) -> bool:
        return self.index is not None

    def toggle(self) -> None:
        if self.open:
            self.index = None
            self.panel.remove_class("open")
        else:
            self.go(0)

    def step(self, delta: int) -> None:
        if self.index is not None:
            self.go(max(0, min(len(STEPS), self.index + delta)))

    def go(self, index: int) -> None:
        """Show step `index` (len(STEPS): the end) and act it out: start its demo, or put the cursor on its pid."""
        self.index = index
        self.panel.add_class("open")
        step = STEPS[index] if index < len(STEPS) else None
        note = ""
        if step is not None:
            note = self.act(step)
        self.relabel(note)

    def act(self, step: Step) -> str:
        """Start the step's demo (the cursor goes to it once it is seen); what to say when it cannot start."""
        if step.recipe is None:
            self.app.sandbox_controller.stop_following()
            self.app.sandbox_controller.close_panel()  # the step is about the tree: give it the room
            if step.select is not None:
                self.app.jump_to(step.select)
            return ""
        if step.recipe not in RECIPES:
            return t("lesson.no_demo", reason=step.recipe)
        reason = precheck(step.recipe)
        if reason is not None or not self.app.sandbox_controller.enabled:
            return t("lesson.no_demo", reason=reason or t("sandbox.disabled"))
        self.app.sandbox_controller.spawn(step.recipe, open_panel=True)
        return ""

    def relabel(self, note: str = "") -> None:
        if self.index is not None:
            self.panel.show_step(self.index + 1, STEPS[self.index] if self.index < len(STEPS) else None, note)
