"""The key table is the one place keys are defined: bindings, footer, help, README and the sandbox hint agree."""

from __future__ import annotations

import pathlib

import pytest

from procwatch.engine import catalog
from procwatch.ui.app import ProcwatchApp
from procwatch.ui.keys import ALL_KEYS, APP_KEYS, SANDBOX_KEYS, TABLE_KEYS, help_rows, readme_table, sandbox_hint
from procwatch.ui.widgets.process_table import ProcessTable
from procwatch.ui.widgets.sandbox_panel import SandboxPanel

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_key_table_is_the_generated_one():
    text = README.read_text()
    start = text.index("<!-- keys:")
    start = text.index("\n", start) + 1
    end = text.index("<!-- /keys -->")
    assert text[start:end].strip() == readme_table(), "regenerate the README table from procwatch.ui.keys.readme_table()"


def test_every_binding_comes_from_the_table_with_a_unique_id():
    # the demo keys are bound in the panel and, while it is open, in the app (one id each: a keymap moves both)
    for widget, keys in ((ProcwatchApp, APP_KEYS + SANDBOX_KEYS), (ProcessTable, TABLE_KEYS),
                         (SandboxPanel, SANDBOX_KEYS)):
        bindings = widget.BINDINGS
        assert [(b.key, b.action, b.id) for b in bindings] == [(k.keys, k.action, k.id) for k in keys]  # type: ignore[union-attr]
    ids = [k.id for k in APP_KEYS + TABLE_KEYS + SANDBOX_KEYS]
    assert len(ids) == len(set(ids))


def test_every_action_exists_on_its_widget():
    for widget, keys in ((ProcwatchApp, APP_KEYS), (ProcessTable, TABLE_KEYS), (SandboxPanel, SANDBOX_KEYS)):
        for key in keys:
            name = key.action.split("(")[0]
            assert callable(getattr(widget, f"action_{name}", None)), f"{widget.__name__} has no action_{name}"


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
        rows = help_rows()
    assert len([r for r in rows if r[1]]) == len(ALL_KEYS) - 1 + 2  # ctrl+c folded into q; palette, Enter
