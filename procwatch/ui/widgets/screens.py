"""Modal screens: help, the signal dialog, user/state pickers and jump-to-PID."""

from __future__ import annotations

from typing import TypeVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, RichLog, Static
from textual.widgets.option_list import Option

from procwatch.engine.catalog import t
from procwatch.engine.escape import printable
from procwatch.engine.model import ProcInfo
from procwatch.engine.stat import STATE_LETTERS
from procwatch.engine.words import FLAGS, flag_legend, state_model, state_word
from procwatch.ui.keys import (
    CONFIRM_DIALOG_KEYS,
    EVENTS_DIALOG_KEYS,
    HELP_DIALOG_KEYS,
    JUMP_DIALOG_KEYS,
    PICKER_DIALOG_KEYS,
    SIGNAL_DIALOG_KEYS,
    bindings,
    help_rows,
    relabel,
)

SIGNALS = ("TERM", "KILL", "INT", "HUP", "STOP", "CONT")  # offered by the signal dialog, in this order

MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: auto; min-width: 40; max-width: 90%; height: auto; max-height: 90%;
    border: thick $primary; background: $surface; padding: 1 2; }}
{name} .title {{ text-style: bold; margin-bottom: 1; }}
"""


ResultT = TypeVar("ResultT")


class Dialog(ModalScreen[ResultT]):
    """A modal screen whose keys are labelled in the current language. Textual copies a class's bindings when it
    makes a screen: a dialog made after a language switch (or first opened in Chinese) is relabelled as it is made.
    While it is shown, the app's `set_language` relabels it with every screen on the stack."""

    def __init__(self) -> None:
        super().__init__()
        relabel([self])


def stat_legend() -> Group:
    """Each STAT letter and flag in words, with its place in both models (a grid: CJK cells stay aligned)."""
    grid = Table.grid(padding=(0, 2))
    for _ in range(4):
        grid.add_column()
    grid.add_row("", *(Text(c, style="italic") for c in t("legend.columns").split("|")))
    for letter in "RSDTtZXI":
        model = state_model(letter)
        grid.add_row(Text(f"  {letter}", style="bold"), state_word(letter), model.three_state, model.five_state)
    for flag in FLAGS:
        grid.add_row(Text(f"  {flag}", style="bold"), flag_legend(flag), "", "")
    return Group(Text(t("legend.title"), style="bold"), grid, Text(), Text(t("legend.footer"), style="italic"))


# The tutorial's terms (its own words, in Chinese whatever the language), the English term, the STAT letter and
# the man page; terms the tutorial lacks get a gloss from the catalogue.
GLOSSARY: tuple[tuple[str, str, str, str], ...] = (
    ("父进程", "parent process", "PPID", "getppid(2)"),
    ("子进程", "child process", "", "fork(2)"),
    ("孤儿进程 · 收养", "orphan · adopted", "", "prctl(2) PR_SET_CHILD_SUBREAPER"),
    ("僵尸进程", "zombie process", "Z", "wait(2)"),
    ("退出状态", "exit status", "", "_exit(2), wait(2)"),
    ("就绪态", "ready", "R", "sched(7)"),
    ("运行态", "running", "R", "sched(7)"),
    ("等待态", "waiting (blocked)", "S D T", "ps(1)"),
    ("新建态", "new", "", "fork(2)"),
    ("终止态", "terminated", "Z X", "exit(3)"),
    ("时间片", "time slice", "", "sched(7)"),
    ("进程控制块 (PCB)", "process control block", "", "proc(5)"),
    ("会话组组长", "session leader", "s", "setsid(2)"),
    ("前台进程", "foreground process group", "+", "tcsetpgrp(3)"),
    ("高优先级 / 低优先级", "high / low priority", "< N", "nice(2)"),
    ("多线程", "multithreaded", "l", "pthreads(7)"),
    ("进程树", "process tree", "", "pstree(1)"),
)
GLOSSES = ("glossary.pcb", "glossary.reap", "glossary.subreaper", "glossary.process_table", "glossary.supervisor")


def glossary() -> Group:
    grid = Table.grid(padding=(0, 2))
    for _ in range(4):
        grid.add_column()
    grid.add_row(*(Text(c, style="italic") for c in t("glossary.columns").split("|")))
    for row in GLOSSARY:
        grid.add_row(*row)
    return Group(Text(t("glossary.title"), style="bold"), grid, *(Text("  " + t(g)) for g in GLOSSES))


class HelpScreen(Dialog[None]):
    DEFAULT_CSS = MODAL_CSS.format(name="HelpScreen")
    BINDINGS = bindings(HELP_DIALOG_KEYS)

    def compose(self) -> ComposeResult:
        parts: list[Text | Table | Group] = []
        for key, description in help_rows(getattr(self.app, "keymap", None)):  # the user's keys, if moved
            if not description:  # a group title, then its keys in a grid (a long description wraps under itself)
                parts.append(Text(key, style="bold underline"))
                grid = Table.grid(padding=(0, 2))
                grid.add_column(no_wrap=True, min_width=16)
                grid.add_column(ratio=1)
                parts.append(grid)
            else:
                grid.add_row(Text(f"  {key}", style="bold"), Text(description))
        parts += [Text(), stat_legend(), Text(), glossary()]
        with Vertical():
            yield Label(t("dialog.help_title"), classes="title")
            with VerticalScroll():
                yield Static(Group(*parts))


class SignalScreen(Dialog[str | None]):
    """Pick a signal, then confirm. Returns the signal name, or None when cancelled."""

    DEFAULT_CSS = MODAL_CSS.format(name="SignalScreen") + "SignalScreen OptionList { height: auto; max-height: 10; }"
    BINDINGS = bindings(SIGNAL_DIALOG_KEYS)

    def __init__(self, proc: ProcInfo, warnings: dict[str, str] | None = None) -> None:
        super().__init__()
        self.proc = proc
        self.warnings = warnings or {}  # signal name -> what the confirmation must say first

    def compose(self) -> ComposeResult:
        p = self.proc
        with Vertical():
            yield Label(Text(t("dialog.signal_title", pid=p.pid, name=printable(p.name), user=printable(p.user))),
                        classes="title")
            yield Label(Text(printable(p.cmdline[:200])))
            yield OptionList(*[Option(f"SIG{name}", id=name) for name in SIGNALS], id="signals")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        def confirmed(signal_name: str | None) -> None:
            self.dismiss(signal_name)  # not awaited: we are inside a callback of the confirm screen

        if event.option.id is not None:
            warning = self.warnings.get(event.option.id)
            self.app.push_screen(ConfirmScreen(self.proc, event.option.id, warning), confirmed)


class ConfirmScreen(Dialog[str | None]):
    DEFAULT_CSS = MODAL_CSS.format(name="ConfirmScreen")
    BINDINGS = bindings(CONFIRM_DIALOG_KEYS)

    def __init__(self, proc: ProcInfo, signal_name: str, warning: str | None = None) -> None:
        super().__init__()
        self.proc, self.signal_name, self.warning = proc, signal_name, warning

    def compose(self) -> ComposeResult:
        p = self.proc
        with Vertical():
            yield Label(Text(t("dialog.confirm", signal=self.signal_name, pid=p.pid, name=printable(p.name),
                               user=printable(p.user))), classes="title")
            if self.warning is not None:
                yield Label(Text(self.warning, style="bold"), id="warning")
            yield Button(t("dialog.yes"), id="yes", variant="error")
            yield Button(t("dialog.no"), id="no")

    def action_yes(self) -> None:
        self.dismiss(self.signal_name)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.signal_name if event.button.id == "yes" else None)


class PickerScreen(Dialog[str | None]):
    """A list of choices with counts; returns the chosen id ('' for 'all')."""

    DEFAULT_CSS = MODAL_CSS.format(name="PickerScreen") + "PickerScreen OptionList { height: auto; max-height: 20; }"
    BINDINGS = bindings(PICKER_DIALOG_KEYS)

    def __init__(self, title: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text, self.choices = title, choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield OptionList(Option(t("dialog.all"), id=""), *[Option(Text(label), id=key) for key, label in self.choices])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class JumpScreen(Dialog[int | None]):
    DEFAULT_CSS = MODAL_CSS.format(name="JumpScreen")
    BINDINGS = bindings(JUMP_DIALOG_KEYS)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(t("dialog.jump"), classes="title")
            yield Input(placeholder="PID", type="integer", id="pid")
            yield Label("", id="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value.isdigit():
            self.query_one("#error", Label).update(t("dialog.jump_error"))
            return
        self.dismiss(int(value))


def state_choices(counts: dict[str, int]) -> list[tuple[str, str]]:
    return [(letter, t("dialog.state_choice", letter=letter, words=state_word(letter), count=counts.get(letter, 0)))
            for letter in STATE_LETTERS]


class EventsScreen(Dialog[None]):
    """The event log: every event lineage saw, newest first, with times, following the current filter."""

    DEFAULT_CSS = MODAL_CSS.format(name="EventsScreen") + "EventsScreen RichLog { height: auto; max-height: 30; }"
    BINDINGS = bindings(EVENTS_DIALOG_KEYS)

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(t("dialog.events_title", count=len(self.lines)), classes="title")
            log = RichLog(id="events", max_lines=2000, wrap=True, markup=False, highlight=False)
            yield log

    def on_mount(self) -> None:
        log = self.query_one(RichLog)
        for line in self.lines or [t("dialog.events_none")]:
            log.write(Text(line))
