"""What the TUI remembers across a restart (theme, sort, interval, kernel threads, folded subtrees), a keymap from
the config, and --readonly: Pilot tests with a scripted source, the state file in the test's own XDG folders."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from support.tui import applied, notifications, shown_pids, table, wait_for

from procwatch import settings
from procwatch.cli import build_parser
from procwatch.engine.catalog import t
from procwatch.engine.fake import FakeCollector, demo_processes
from procwatch.engine.state import StateFile, state_dir
from procwatch.engine.tree import ProcessFilter
from procwatch.ui.app import make_app
from procwatch.ui.keys import help_rows, sandbox_hint
from procwatch.ui.memory import Memory
from procwatch.ui.widgets.panels import SummaryBar
from procwatch.ui.widgets.screens import HelpScreen, SignalScreen

SIZE = (120, 36)


def start_like_the_cli(*argv: str):
    """The app as `procwatch ARGV` makes it: flags, config file and remembered state resolved by procwatch.settings."""
    parser = build_parser()
    chosen = settings.resolve(parser, list(argv), parser.parse_args(list(argv)), remember=True)
    args = chosen.args
    memory = Memory(chosen.state, chosen.remembered, chosen.notices)
    return make_app(FakeCollector(None), interval=args.interval, sort=args.sort, theme=args.theme,
                    sandbox=args.sandbox, hide_kernel=not args.kernel_threads, readonly=args.readonly,
                    keymap=chosen.keymap, memory=memory)


async def started(pilot, app):
    await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
    await pilot.pause()


def state_file() -> dict:
    return json.loads((state_dir() / "state.json").read_text())


async def test_choices_made_in_the_tui_are_remembered_across_a_restart():
    app = start_like_the_cli()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert 2 not in shown_pids(app), "kernel threads are hidden by default, as in htop"
        app.theme = "textual-light"  # what the palette's theme picker does
        await pilot.press("M", "greater_than_sign", "K")
        await wait_for(pilot, lambda: 2 in shown_pids(app), what="kernel threads shown")
        table(app).select_pid(420)
        await pilot.press("enter")
        await wait_for(pilot, lambda: 421 not in shown_pids(app), what="nginx folded")
    saved = state_file()
    assert saved == {"format": 1, "theme": "textual-light", "sort": "mem", "interval": 2.0, "kernel-threads": True,
                     "collapsed": ["nginx: master process /usr/sbin/nginx"]}

    again = start_like_the_cli()  # a restart: new pids would not matter, the command line is the key
    async with again.run_test(size=SIZE) as pilot:
        await started(pilot, again)
        await wait_for(pilot, lambda: 421 not in shown_pids(again), what="nginx folded again")
        assert (again.theme, again.view.sort, again.interval, again.view.hide_kernel) == ("textual-light", "mem",
                                                                                          2.0, False)
        assert 2 in shown_pids(again)
    assert state_file() == saved  # nothing changed, nothing lost


async def test_flags_and_config_come_before_what_was_remembered(tmp_path):
    StateFile(state_dir() / "state.json").save({"theme": "textual-light", "sort": "mem", "interval": 2.0})
    config = tmp_path / "config.toml"
    config.write_text('sort = "name"\n')
    app = start_like_the_cli("--config", str(config), "--interval", "5")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert (app.theme, app.view.sort, app.interval) == ("textual-light", "name", 5.0)
    # Nothing was changed in the TUI: the remembered values stay as they were, the flag's value is not remembered.
    assert state_file()["interval"] == 2.0 and state_file()["sort"] == "mem"


async def test_a_damaged_state_file_is_set_aside_with_a_notice():
    folder = state_dir()
    folder.mkdir(parents=True)
    (folder / "state.json").write_text('{"theme": "textual-light", ')
    app = start_like_the_cli()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        said = " ".join(notifications(app))
        assert "were unusable" in said and "set aside as" in said
    assert not (folder / "state.json").exists() or "format" in state_file()
    assert [p.name for p in folder.iterdir() if p.name.startswith("state.json.bad-")]


async def test_a_remembered_value_this_version_refuses_is_set_aside_too():
    StateFile(state_dir() / "state.json").save({"interval": 0.0001, "sort": "mem"})
    app = start_like_the_cli()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert app.interval == 1.0 and app.view.sort == "pid"
        assert any("interval" in n and "set aside" in n for n in notifications(app))


async def test_keymap_from_the_config_moves_a_binding(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[keymap]\n"app.help" = "f1"\n')
    app = start_like_the_cli("--config", str(config))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help on f1")
    assert ("f1", "this help, with the STAT legend and a glossary") in help_rows(app.keymap)  # the help screen says so
    assert sandbox_hint({"sandbox.reap": "W"}).startswith("W wait()")


async def test_readonly_sends_no_signal_and_starts_no_sandbox():
    app = start_like_the_cli("--readonly")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert t("readonly.mark") in str(app.query_one(SummaryBar).render())
        table(app).select_pid(1400)
        await pilot.press("k")
        await pilot.pause()
        assert not isinstance(app.screen, SignalScreen)
        await pilot.press("z", "o", "b")
        await pilot.pause()
        said = notifications(app)
        assert t("readonly.signal") in said and t("readonly.sandbox") in said
        assert app.sandbox is None  # no supervisor was started
        assert len(shown_pids(app)) == len(demo_processes()) - 3  # kernel threads hidden


def test_a_theme_from_the_config_that_textual_does_not_have_is_refused_at_start(tmp_path, capsys, monkeypatch):
    from procwatch.ui import launcher

    config = tmp_path / "config.toml"
    config.write_text('theme = "no-such-theme"\n')
    argv = ["--config", str(config)]
    parser = build_parser()
    chosen = settings.resolve(parser, argv, parser.parse_args(argv), remember=True)
    monkeypatch.setattr(launcher, "_terminal_missing", lambda: None)  # refused before the TUI would start
    status = launcher.run_app(process_filter=ProcessFilter(), interval=1.0, sort="pid", theme=chosen.args.theme,
                              sandbox=False, theme_origin=chosen.origins.get("theme"))
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith(f"procwatch: {config}:1: theme: unknown theme 'no-such-theme'") and err.count("\n") == 1
