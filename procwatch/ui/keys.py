"""Every key of procwatch, once: the widgets' BINDINGS, the footer, the help screen and the README's key table are
made from these tables. Each binding has an id, so a keymap (`App.set_keymap`) can move it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # the ids and keys are read without Textual too: the config check runs for --once
    from textual.binding import Binding


class Key(NamedTuple):
    id: str  # stable binding id: what a keymap names
    keys: str  # Textual key names, comma-separated
    action: str
    label: str  # the footer's word
    help: str  # the help screen's line
    shown: str  # how the help screen writes the key
    footer: bool = False
    priority: bool = False


def binding(key: Key) -> Binding:
    from textual.binding import Binding

    return Binding(key.keys, key.action, key.label, show=key.footer, priority=key.priority, id=key.id)


def bindings(keys: tuple[Key, ...]) -> list[Binding | tuple[str, str] | tuple[str, str, str]]:
    return [binding(key) for key in keys]


APP_KEYS: tuple[Key, ...] = (
    Key("app.quit", "q", "quit", "Quit", "quit (SIGTERM and SIGHUP also end it cleanly: terminal restored, demos reaped)", "q", True),
    Key("app.help", "question_mark", "help", "Help", "this help, with the STAT legend", "?", True),
    Key("app.filter", "slash", "filter_text", "Filter", "filter by text (name, command line or pid), live; ancestors of matches stay, dimmed, marked context", "/", True),
    Key("app.user", "u", "pick_user", "User", "pick a user to show (with counts)", "u", True),
    Key("app.state", "s", "pick_state", "State", "pick a state letter to show (with counts)", "s", True),
    Key("app.clear", "escape", "clear_filters", "Clear", "clear all filters", "Esc"),
    Key("app.pause", "space", "pause", "Pause", "pause or resume the refresh", "space", True),
    Key("app.signal", "k", "signal", "Signal", "send TERM, KILL, INT, HUP, STOP or CONT to the selected process, after a confirmation naming it", "k", True),
    Key("app.details", "d", "toggle_details", "Details", "show or hide the details panel", "d"),
    Key("app.expand_all", "plus", "expand_all", "Expand all", "expand every subtree", "+"),
    Key("app.collapse_all", "minus", "collapse_all", "Collapse all", "collapse every subtree", "-"),
    Key("app.sort_pid", "N", "sort('pid')", "Sort PID", "sort siblings by PID (the tree stays a tree)", "N"),
    Key("app.sort_cpu", "P", "sort('cpu')", "Sort CPU", "sort siblings by CPU", "P"),
    Key("app.sort_mem", "M", "sort('mem')", "Sort memory", "sort siblings by memory", "M"),
    Key("app.kernel", "K", "toggle_kernel", "Kernel threads", "show or hide kernel threads", "K"),
    Key("app.faster", "less_than_sign", "interval(-1)", "Faster", "refresh faster (down to 0.25 s)", "<"),
    Key("app.slower", "greater_than_sign", "interval(1)", "Slower", "refresh slower (up to 10 s)", ">"),
    Key("app.jump", "g", "jump", "Go to PID", "jump to a PID", "g"),
    Key("app.demo_zombie", "z", "spawn_demo('Z')", "Zombie demo", "fork a demo zombie (opens the sandbox panel)",
        "z", True),
    Key("app.demo_orphan", "o", "spawn_demo('orphan')", "Orphan demo", "fork a demo orphan (opens the sandbox panel)",
        "o", True),
    Key("app.sandbox", "b", "toggle_sandbox", "Sandbox", "open or close the sandbox panel; Tab moves into it", "b",
        True),
    Key("app.interrupt", "ctrl+c", "quit", "Quit", "quit", "ctrl+c", priority=True),
)

TABLE_KEYS: tuple[Key, ...] = (
    Key("table.up", "up", "cursor(-1)", "Up", "move the cursor up; it stays on its process (pid + start time) across refreshes", "↑"),
    Key("table.down", "down", "cursor(1)", "Down", "move the cursor down", "↓"),
    Key("table.page_up", "pageup", "cursor_page(-1)", "Page up", "one page up", "PgUp"),
    Key("table.page_down", "pagedown", "cursor_page(1)", "Page down", "one page down", "PgDn"),
    Key("table.first", "home", "cursor_to(0)", "First", "the first process", "Home"),
    Key("table.last", "end", "cursor_to(-1)", "Last", "the last process", "End"),
    Key("table.fold", "enter", "fold", "Fold", "fold or unfold the subtree, kept per process (or click its tree guide, or double-click)",
        "Enter"),
    Key("table.collapse", "left", "collapse", "Collapse", "collapse; on a leaf, go to the parent", "←"),
    Key("table.expand", "right", "expand", "Expand", "expand", "→"),
    Key("table.pan_left", "shift+left", "pan(-8)", "Scroll left", "scroll long command lines left", "shift+←"),
    Key("table.pan_right", "shift+right", "pan(8)", "Scroll right", "scroll long command lines right", "shift+→"),
)

SANDBOX_KEYS: tuple[Key, ...] = (
    Key("sandbox.reap", "w", "demo('reap')", "wait()", "the zombie's parent calls wait() and reaps it", "w", True),
    Key("sandbox.parent_exit", "p", "demo('parent_exit')", "Parent exits",
        "the zombie's parent exits: the subreaper adopts and reaps the zombie", "p", True),
    Key("sandbox.stop_cont", "c", "demo('stop_cont')", "Stop/cont", "stop or continue the demo", "c", True),
    Key("sandbox.kill", "x", "demo('kill')", "Kill demo", "kill the demo (SIGKILL)", "x", True),
    Key("sandbox.kill_all", "X", "demo('kill_all')", "Kill all", "kill every demo", "X", True),
)

# Keys that are not bindings of ours but that a user needs to know.
OTHER_HELP: tuple[tuple[str, str], ...] = (
    ("ctrl+p", "command palette: jump, filter by user/state, sort, themes"),
    ("Enter (sandbox)", "fork the highlighted demo: R S D T t Z orphan N < L s l + Zl"),
)

GROUPS: tuple[tuple[str, tuple[Key, ...]], ...] = (
    ("Process tree", TABLE_KEYS), ("View", APP_KEYS), ("Sandbox (in the demo list)", SANDBOX_KEYS))


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
        rows.append((title, ""))
        rows += [(keymap[key.id].replace(",", " ") if key.id in keymap else key.shown, key.help)
                 for key in keys if key.id != "app.interrupt"]
    rows.append(("Elsewhere", ""))
    rows += list(OTHER_HELP)
    return rows


def readme_table() -> str:
    """The README's key table (a test checks that the README has exactly this)."""
    lines = ["| key | what it does |", "|---|---|"]
    for key, description in help_rows():
        if description:
            lines.append(f"| `{key}` | {description} |")
        else:
            lines.append(f"| **{key}** | |")
    return "\n".join(lines)
