"""Modal screens: help, the signal dialog, user/state pickers and jump-to-PID."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from procwatch.engine.escape import printable
from procwatch.engine.model import ProcInfo
from procwatch.engine.stat import STATE_LETTERS
from procwatch.engine.words import FLAG_LEGEND, STATE_WORDS, state_model
from procwatch.ui.keys import help_rows

SIGNALS = ("TERM", "KILL", "INT", "HUP", "STOP", "CONT")  # offered by the signal dialog, in this order

MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: auto; min-width: 40; max-width: 90%; height: auto; max-height: 90%;
    border: thick $primary; background: $surface; padding: 1 2; }}
{name} .title {{ text-style: bold; margin-bottom: 1; }}
"""


def stat_legend() -> Text:
    text = Text()
    text.append("STAT: a state letter, then flags (exactly as ps -o stat)\n", style="bold")
    text.append(f"     {'meaning':<46} {'3-state model':<14} 5-state model\n", style="italic")
    for letter in "RSDTtZXI":
        model = state_model(letter)
        text.append(f"  {letter}  ", style="bold")
        text.append(f"{STATE_WORDS[letter]:<46} {model.three_state:<14} {model.five_state}\n")
    for flag, words in FLAG_LEGEND.items():
        text.append(f"  {flag}  ", style="bold")
        text.append(words + "\n")
    text.append("\nThe five-state model adds 'new' (being created by fork) and 'terminated' (Z: exited, waiting\n"
                "for its parent's wait()). An orphan is a process whose parent exited first; init or a child\n"
                "subreaper adopts it and reaps it when it exits.\n", style="italic")
    return text


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = MODAL_CSS.format(name="HelpScreen")
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        parts: list[Text | Table] = []
        for key, description in help_rows(getattr(self.app, "keymap", None)):  # the user's keys, if moved
            if not description:  # a group title, then its keys in a grid (a long description wraps under itself)
                parts.append(Text(key, style="bold underline"))
                grid = Table.grid(padding=(0, 2))
                grid.add_column(no_wrap=True, min_width=16)
                grid.add_column(ratio=1)
                parts.append(grid)
            else:
                grid.add_row(Text(f"  {key}", style="bold"), Text(description))
        parts += [Text(), stat_legend()]
        with Vertical():
            yield Label("procwatch help  (Esc closes)", classes="title")
            with VerticalScroll():
                yield Static(Group(*parts))


class SignalScreen(ModalScreen[str | None]):
    """Pick a signal, then confirm. Returns the signal name, or None when cancelled."""

    DEFAULT_CSS = MODAL_CSS.format(name="SignalScreen") + "SignalScreen OptionList { height: auto; max-height: 10; }"
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, proc: ProcInfo, warnings: dict[str, str] | None = None) -> None:
        super().__init__()
        self.proc = proc
        self.warnings = warnings or {}  # signal name -> what the confirmation must say first

    def compose(self) -> ComposeResult:
        p = self.proc
        with Vertical():
            yield Label(Text(f"Send a signal to {p.pid} ({printable(p.name)}), user {printable(p.user)}"),
                        classes="title")
            yield Label(Text(printable(p.cmdline[:200])))
            yield OptionList(*[Option(f"SIG{name}", id=name) for name in SIGNALS], id="signals")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        def confirmed(signal_name: str | None) -> None:
            self.dismiss(signal_name)  # not awaited: we are inside a callback of the confirm screen

        if event.option.id is not None:
            warning = self.warnings.get(event.option.id)
            self.app.push_screen(ConfirmScreen(self.proc, event.option.id, warning), confirmed)


class ConfirmScreen(ModalScreen[str | None]):
    DEFAULT_CSS = MODAL_CSS.format(name="ConfirmScreen")
    BINDINGS = [Binding("escape,n", "dismiss(None)", "No"), Binding("y", "yes", "Yes")]

    def __init__(self, proc: ProcInfo, signal_name: str, warning: str | None = None) -> None:
        super().__init__()
        self.proc, self.signal_name, self.warning = proc, signal_name, warning

    def compose(self) -> ComposeResult:
        p = self.proc
        with Vertical():
            yield Label(Text(f"Send SIG{self.signal_name} to {p.pid} ({printable(p.name)}, user {printable(p.user)})?"),
                        classes="title")
            if self.warning is not None:
                yield Label(Text(self.warning, style="bold"), id="warning")
            yield Button("Yes (y)", id="yes", variant="error")
            yield Button("No (n)", id="no")

    def action_yes(self) -> None:
        self.dismiss(self.signal_name)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.signal_name if event.button.id == "yes" else None)


class PickerScreen(ModalScreen[str | None]):
    """A list of choices with counts; returns the chosen id ('' for 'all')."""

    DEFAULT_CSS = MODAL_CSS.format(name="PickerScreen") + "PickerScreen OptionList { height: auto; max-height: 20; }"
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text, self.choices = title, choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield OptionList(Option("(all)", id=""), *[Option(Text(label), id=key) for key, label in self.choices])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class JumpScreen(ModalScreen[int | None]):
    DEFAULT_CSS = MODAL_CSS.format(name="JumpScreen")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Jump to PID", classes="title")
            yield Input(placeholder="PID", type="integer", id="pid")
            yield Label("", id="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value.isdigit():
            self.query_one("#error", Label).update("a PID is a positive whole number")
            return
        self.dismiss(int(value))


def state_choices(counts: dict[str, int]) -> list[tuple[str, str]]:
    return [(letter, f"{letter}  {STATE_WORDS[letter]} ({counts.get(letter, 0)})") for letter in STATE_LETTERS]
