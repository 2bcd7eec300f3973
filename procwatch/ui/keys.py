"""Every key of procwatch, once: the widgets' BINDINGS, the footer, the help screen and the README's key table are
made from these tables. Each binding has an id, so a keymap (`App.set_keymap`) can move it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # the ids and keys are read without Textual too: the config check runs for --once
    from textual.binding import Binding

from procwatch.engine.catalog import t, using


class Key(NamedTuple):
    id: str  # stable binding id: what a keymap names; its words are the catalogue's `key.<id>` and `key.<id>.help`
    keys: str  # Textual key names, comma-separated
    action: str
    shown: str  # how the help screen writes the key
    footer: bool = False
    priority: bool = False
    word: str = ""  # the words are `key.<word>` instead, shared with keys that do the same (every dialog's Cancel)

    @property
    def label(self) -> str:
        """The footer's word, in the current language."""
        return t(f"key.{self.word or self.id}")

    @property
    def help(self) -> str:
        """The help screen's line, in the current language."""
        return t(f"key.{self.word or self.id}.help")


def binding(key: Key) -> Binding:
    from textual.binding import Binding

    return Binding(key.keys, key.action, key.label, show=key.footer, priority=key.priority, id=key.id)


def bindings(keys: tuple[Key, ...]) -> list[Binding | tuple[str, str] | tuple[str, str, str]]:
    return [binding(key) for key in keys]


APP_KEYS: tuple[Key, ...] = (
    Key("app.quit", "q", "quit", "q", True),
    Key("app.help", "question_mark", "help", "?", True),
    Key("app.filter", "slash", "filter_text", "/", True),
    Key("app.user", "u", "pick_user", "u", True),
    Key("app.state", "s", "pick_state", "s", True),
    Key("app.unit", "U", "pick_unit", "U"),
    Key("app.clear", "escape", "clear_filters", "Esc"),
    Key("app.pause", "space", "pause", "space", True),
    Key("app.signal", "k", "signal", "k", True),
    Key("app.details", "d", "toggle_details", "d"),
    Key("app.events", "e", "events", "e", True),
    Key("app.language", "L", "switch_language", "L", True),
    Key("app.expand_all", "plus", "expand_all", "+"),
    Key("app.collapse_all", "minus", "collapse_all", "-"),
    Key("app.sort_pid", "N", "sort('pid')", "N"),
    Key("app.sort_cpu", "P", "sort('cpu')", "P"),
    Key("app.sort_mem", "M", "sort('mem')", "M"),
    Key("app.threads", "H", "toggle_threads", "H"),
    Key("app.kernel", "K", "toggle_kernel", "K"),
    Key("app.faster", "less_than_sign", "interval(-1)", "<"),
    Key("app.slower", "greater_than_sign", "interval(1)", ">"),
    Key("app.jump", "g", "jump", "g"),
    Key("app.demo_zombie", "z", "spawn_demo('Z')", "z", True),
    Key("app.demo_orphan", "o", "spawn_demo('orphan')", "o", True),
    Key("app.sandbox", "b", "toggle_sandbox", "b", True),
    Key("app.lesson", "T", "lesson", "T", True),
    Key("app.lesson_next", "right_square_bracket", "lesson_step(1)", "]", True),
    Key("app.lesson_back", "left_square_bracket", "lesson_step(-1)", "["),
    Key("app.interrupt", "ctrl+c", "quit", "ctrl+c", priority=True),
)

TABLE_KEYS: tuple[Key, ...] = (
    Key("table.up", "up", "cursor(-1)", "↑"),
    Key("table.down", "down", "cursor(1)", "↓"),
    Key("table.page_up", "pageup", "cursor_page(-1)", "PgUp"),
    Key("table.page_down", "pagedown", "cursor_page(1)", "PgDn"),
    Key("table.first", "home", "cursor_to(0)", "Home"),
    Key("table.last", "end", "cursor_to(-1)", "End"),
    Key("table.fold", "enter", "fold", "Enter"),
    Key("table.collapse", "left", "collapse", "←"),
    Key("table.expand", "right", "expand", "→"),
    Key("table.pan_left", "shift+left", "pan(-8)", "shift+←"),
    Key("table.pan_right", "shift+right", "pan(8)", "shift+→"),
)

SANDBOX_KEYS: tuple[Key, ...] = (
    Key("sandbox.reap", "w", "demo('reap')", "w", True),
    Key("sandbox.parent_exit", "p", "demo('parent_exit')", "p", True),
    Key("sandbox.stop_cont", "c", "demo('stop_cont')", "c", True),
    Key("sandbox.kill", "x", "demo('kill')", "x", True),
    Key("sandbox.kill_all", "X", "demo('kill_all')", "X", True),
)

# The fleet view (`--host`): its own screen, modal, so the app's keys do not act behind it; `L` switches the language
# there too. FLEET_APP_KEYS are the app's extra keys under --host (from a host's tree back to the fleet).
FLEET_KEYS: tuple[Key, ...] = (
    Key("fleet.open", "enter", "open", "Enter", True),
    Key("fleet.sort", "s", "cycle_sort", "s", True),
    Key("fleet.language", "L", "app.switch_language", "L", True, word="app.language"),
    Key("fleet.quit", "q", "app.quit", "q", True, word="app.quit"),
)
FLEET_APP_KEYS: tuple[Key, ...] = (Key("fleet.back", "backspace", "fleet", "backspace", True),)

# The dialogs' keys (procwatch.ui.widgets.screens), one table per dialog.
HELP_DIALOG_KEYS = (Key("help.close", "escape,q,question_mark", "dismiss", "Esc", True, word="dialog.close"),)
EVENTS_DIALOG_KEYS = (Key("events.close", "escape,q,e", "dismiss", "Esc", True, word="dialog.close"),)
SIGNAL_DIALOG_KEYS = (Key("signal.cancel", "escape", "dismiss(None)", "Esc", True, word="dialog.cancel"),)
CONFIRM_DIALOG_KEYS = (Key("confirm.no", "escape,n", "dismiss(None)", "n", True),
                       Key("confirm.yes", "y", "yes", "y", True))
PICKER_DIALOG_KEYS = (Key("picker.cancel", "escape", "dismiss(None)", "Esc", True, word="dialog.cancel"),)
JUMP_DIALOG_KEYS = (Key("jump.cancel", "escape", "dismiss(None)", "Esc", True, word="dialog.cancel"),)

# Keys on screens of their own, not in the help screen (it lists the main view's keys): their footer words only.
SCREEN_KEYS = (FLEET_KEYS + FLEET_APP_KEYS + HELP_DIALOG_KEYS + EVENTS_DIALOG_KEYS + SIGNAL_DIALOG_KEYS
               + CONFIRM_DIALOG_KEYS + PICKER_DIALOG_KEYS + JUMP_DIALOG_KEYS)

# Keys that are not bindings of ours but that a user needs to know: (how the key is written, message id).
OTHER_HELP: tuple[tuple[str, str], ...] = (("ctrl+p", "keys.palette"), ("keys.sandbox_enter", "keys.sandbox_enter.help"))

GROUPS: tuple[tuple[str, tuple[Key, ...]], ...] = (
    ("keys.group.table", TABLE_KEYS), ("keys.group.app", APP_KEYS), ("keys.group.sandbox", SANDBOX_KEYS))

ALL_KEYS = TABLE_KEYS + APP_KEYS + SANDBOX_KEYS


def sandbox_hint(keymap: Mapping[str, str] | None = None) -> str:
    """The one-line key hint under the sandbox's recipe list (with the keys the user's keymap moved)."""
    keymap = keymap or {}
    return "  ".join(f"{keymap.get(key.id, key.shown)} {key.label}" for key in SANDBOX_KEYS)


def help_rows(keymap: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(key as written, what it does) for the help screen, grouped, with ctrl+c folded into q. A key moved by the
    user's keymap is shown as they wrote it."""
    keymap = keymap or {}
    rows: list[tuple[str, str]] = []
    for title, keys in GROUPS:
        rows.append((t(title), ""))
        rows += [(keymap[key.id].replace(",", " ") if key.id in keymap else key.shown, key.help)
                 for key in keys if key.id != "app.interrupt"]
    rows.append((t("keys.group.elsewhere"), ""))
    rows += [(t(shown) if shown.startswith("keys.") else shown, t(help_id)) for shown, help_id in OTHER_HELP]
    return rows


def relabel(nodes: Iterable[Any]) -> None:
    """Put the footer words of the current language on the bindings of these nodes (after a language switch).
    Textual copies a class's bindings into each node: both the class's and the node's are relabelled, so that
    nodes made later (dialogs, panels) are in the same language. Keys moved by a keymap stay where they are."""
    maps = []
    for node in nodes:
        maps.append(node._bindings)
        merged = type(node)._merged_bindings
        if merged is not None:
            maps.append(merged)
    for bindings_map in maps:
        for key, bound in bindings_map.key_to_bindings.items():
            bindings_map.key_to_bindings[key] = [
                replace(b, description=BY_ID[b.id].label) if b.id in BY_ID else b for b in bound]


BY_ID = {key.id: key for key in ALL_KEYS + SCREEN_KEYS}


def readme_table() -> str:
    """The README's key table, in English (a test checks that the README has exactly this)."""
    lines = ["| key | what it does |", "|---|---|"]
    with using("en"):
        rows = help_rows()
    for key, description in rows:
        if description:
            lines.append(f"| `{key}` | {description} |")
        else:
            lines.append(f"| **{key}** | |")
    return "\n".join(lines)
