"""The key table is the one place keys are defined: bindings, footer, help, README and the sandbox hint agree."""

from __future__ import annotations

import pathlib

import pytest

from procwatch.engine import catalog
from procwatch.ui import keys as k
from procwatch.ui.app import ProcwatchApp
from procwatch.ui.fleet import FleetApp, FleetScreen
from procwatch.ui.keys import (
    ALL_KEYS,
    APP_KEYS,
    SANDBOX_KEYS,
    SCREEN_KEYS,
    TABLE_KEYS,
    help_rows,
    readme_table,
    sandbox_hint,
)
from procwatch.ui.widgets import screens
from procwatch.ui.widgets.process_table import ProcessTable
from procwatch.ui.widgets.sandbox_panel import SandboxPanel

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_key_table_is_the_generated_one():
    text = README.read_text()
    start = text.index("<!-- keys:")
    start = text.index("\n", start) + 1
    end = text.index("<!-- /keys -->")
    assert text[start:end].strip() == readme_table(), "regenerate the README table from procwatch.ui.keys.readme_table()"


# Every class with bindings of ours, with its table. The demo keys are bound in the panel and, while it is open, in
# the app (one id each: a keymap moves both).
BOUND = ((ProcwatchApp, APP_KEYS + SANDBOX_KEYS), (ProcessTable, TABLE_KEYS), (SandboxPanel, SANDBOX_KEYS),
         (FleetScreen, k.FLEET_KEYS), (FleetApp, APP_KEYS + SANDBOX_KEYS + k.FLEET_APP_KEYS),
         (screens.HelpScreen, k.HELP_DIALOG_KEYS), (screens.EventsScreen, k.EVENTS_DIALOG_KEYS),
         (screens.SignalScreen, k.SIGNAL_DIALOG_KEYS), (screens.ConfirmScreen, k.CONFIRM_DIALOG_KEYS),
         (screens.PickerScreen, k.PICKER_DIALOG_KEYS), (screens.JumpScreen, k.JUMP_DIALOG_KEYS))


def test_every_binding_comes_from_the_table_with_a_unique_id():
    for widget, keys in BOUND:
        bindings = widget.BINDINGS
        assert [(b.key, b.action, b.id) for b in bindings] == [(k.keys, k.action, k.id) for k in keys]  # type: ignore[union-attr]
    ids = [key.id for key in ALL_KEYS + SCREEN_KEYS]
    assert len(ids) == len(set(ids))


def test_every_action_exists_on_its_widget():
    for widget, keys in BOUND:
        for key in keys:
            name = key.action.split("(")[0]
            owner = ProcwatchApp if name.startswith("app.") else widget  # `app.quit`: the app's action, from a screen
            name = name.removeprefix("app.")
            assert callable(getattr(owner, f"action_{name}", None)), f"{owner.__name__} has no action_{name}"


def test_help_and_hint_list_every_key():
    helped = {shown for shown, _ in help_rows()}
    for key in APP_KEYS + TABLE_KEYS + SANDBOX_KEYS:
        assert key.id == "app.interrupt" or key.shown in helped, key.id
    for key in SANDBOX_KEYS:
        assert f"{key.shown} {key.label}" in sandbox_hint()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_key_has_its_words_in_every_language(lang):
    with catalog.using(lang):
        for key in ALL_KEYS:
            assert key.label and key.help, key.id
        for key in SCREEN_KEYS:  # the fleet view's and the dialogs': a footer word, no help line
            assert key.label, key.id
        rows = help_rows()
    assert len([r for r in rows if r[1]]) == len(ALL_KEYS) - 1 + 2  # ctrl+c folded into q; palette, Enter


def test_relabel_puts_the_words_of_the_current_language_on_every_table():
    """relabel() knows every key of every table (a binding it does not know would keep the words it was made with)."""
    for widget, keys in BOUND:
        node = widget.__new__(widget)  # no app needed: relabel reads and writes the bindings maps only
        node._bindings = widget._merged_bindings.copy()  # type: ignore[union-attr]
        try:
            with catalog.using("zh"):
                k.relabel([node])
                words = {b.id: b.description for _, b in node._bindings if b.id}  # (not Textual's own: no id)
                assert words == {key.id: key.label for key in keys}, widget.__name__
        finally:
            k.relabel([node])  # the class's words back in English
