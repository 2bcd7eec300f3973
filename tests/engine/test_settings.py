"""The config file as a user writes it, read by `python -m procwatch` in a subprocess: every flag is a key, a bad
file gets one line naming the file, line and key (exit 2), --print-config prints a file that reads back the same."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport settings.py uses there too
    import tomli as tomllib

import pytest
from support.polling import DEADLINE
from support.procs import LIFETIME, REPO, wait_state

from procwatch import settings
from procwatch.cli import build_parser
from procwatch.ui.keys import APP_KEYS, SANDBOX_KEYS, TABLE_KEYS

pytestmark = pytest.mark.usefixtures("no_leftover_children")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "procwatch", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=DEADLINE * 3, env=env)


def write_config(text: str) -> str:
    path = settings.config_path()  # in the test's own XDG_CONFIG_HOME (conftest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_every_flag_is_a_key_and_a_new_flag_gets_one_the_day_it_is_added():
    parser = build_parser()
    table = settings.settings_of(parser)
    flags = {option[2:] for action in parser._actions for option in action.option_strings[:1]
             if option.startswith("--") and action.dest not in settings.NOT_SETTINGS}
    assert flags == set(table)
    assert {"interval", "theme", "sort", "user", "state", "filter", "sandbox", "kernel-threads", "readonly"} <= flags
    assert (table["interval"].kind, table["sandbox"].kind, table["theme"].kind) == ("number", "bool", "string")

    parser.add_argument("--frobs", type=int, default=3, help="a flag added later")
    parser.add_argument("--shiny", action=argparse.BooleanOptionalAction, default=False, help="another")
    table = settings.settings_of(parser)
    assert (table["frobs"].kind, table["shiny"].kind) == ("number", "bool")
    assert table["frobs"].convert(7) == 7
    with pytest.raises(ValueError, match="expected a number"):
        table["frobs"].convert("7")


def test_the_config_applies_and_flags_come_first(children):
    mine = children.start(["sleep", LIFETIME])
    other = children.start(["sleep", LIFETIME])
    wait_state(mine.pid, "S")
    write_config(f'filter = "{mine.pid}"\nsort = "name"\n')
    result = run("--once", "--json")
    assert result.returncode == 0, result.stderr
    assert mine.pid in {o["pid"] for o in json.loads(result.stdout)}
    assert other.pid not in {o["pid"] for o in json.loads(result.stdout)}
    flagged = json.loads(run("--once", "--json", "--filter", str(other.pid)).stdout)
    assert other.pid in {o["pid"] for o in flagged} and mine.pid not in {o["pid"] for o in flagged}
    unconfigured = json.loads(run("--once", "--json", "--no-config").stdout)
    assert {mine.pid, other.pid} <= {o["pid"] for o in unconfigured}


def test_without_xdg_config_home_the_file_is_in_dot_config(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")} | {"HOME": str(tmp_path)}
    (tmp_path / ".config" / "procwatch").mkdir(parents=True)
    (tmp_path / ".config" / "procwatch" / "config.toml").write_text("interval = 0.01\n")
    result = run("--once", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"procwatch: {tmp_path}/.config/procwatch/config.toml:1: interval: ")


BAD = [  # (file, line, what the message names)
    ("interval = 2\ntheme = \n", 2, "theme: not valid TOML"),
    ("interval = 2\n\nintervall = 3\n", 3, "intervall: unknown setting; did you mean 'interval'?"),
    ('interval = "2"\n', 1, 'interval: expected a number, got a string ("2")'),
    ("interval = 0\n", 1, "interval: '0' must be from 0.25"),
    ('sort = "bogus"\n', 1, "sort: 'bogus' is not one of pid"),
    ('user = "nosuchuser-pw"\n', 1, "user: unknown user 'nosuchuser-pw'"),
    ('state = "Q"\n', 1, "state: 'Q' is not a state"),
    ("sandbox = 1\n", 1, "sandbox: expected true or false, got an integer (1)"),
    ("once = true\n", 1, "once: unknown setting"),
    ("[colours]\nbg = 1\n", 1, "colours: unknown setting"),
    ("keymap = 3\n", 1, "keymap: expected a table of binding ids"),
    ('# keys\n[keymap]\n"app.quitt" = "x"\n', 3, "keymap.app.quitt: unknown binding id; did you mean 'app.quit'?"),
    ('[keymap]\n"app.quit" = 3\n', 2, "keymap.app.quit: expected a string of keys"),
    ('[keymap]\n"app.quit" = "ctrl q"\n', 2, "keymap.app.quit: 'ctrl q' is not a key name"),
    ('[keymap]\n"app.quit" = "k"\n', 2, "keymap.app.quit: key 'k' is already bound to app.signal"),
    ('[keymap.app]\nquit = "ctrl+q"\nhelp = "ctrl+q"\n', 3, "keymap.app.help: key 'ctrl+q' is already bound to "
     "app.quit"),
    ('[keymap]\n"app.quit" = "?"\n', 2, "keymap.app.quit: key 'question_mark' is already bound to app.help"),
    ('[keymap]\n"table.up" = "k,up"\n', 2, "keymap.table.up: key 'k' is already bound to app.signal"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD, ids=[b[2].split(":")[0] + f"-{i}" for i, b in enumerate(BAD)])
def test_a_bad_file_gets_one_line_naming_file_line_and_key_and_status_2(text, line, message, capsys):
    from procwatch.cli import main

    path = write_config(text)
    assert main(["--print-config"]) == 2  # in this process: quick; the same path as every mode
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith(f"procwatch: {path}:{line}: {message}"), err


def test_a_bad_file_stops_the_real_program_in_one_line_too():
    path = write_config('[keymap]\n"table.up" = "k,up"\n')
    for mode in ("--once", "--once --json", ""):
        result = run(*mode.split())
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr == f"procwatch: {path}:2: keymap.table.up: key 'k' is already bound to app.signal\n"


def test_an_unreadable_or_missing_file_named_by_config_is_one_line_too(tmp_path):
    for path, why in ((tmp_path / "missing.toml", "No such file"), (tmp_path, "Is a directory")):
        result = run("--config", str(path), "--once")
        assert result.returncode == 2 and result.stderr.count("\n") == 1
        assert result.stderr.startswith(f"procwatch: {path}: cannot read the config file: {why}")
    assert run("--config", str(tmp_path), "--no-config", "--once").returncode == 2


def test_a_keymap_that_moves_a_key_out_of_the_way_is_fine():
    write_config('[keymap]\n"app.signal" = "ctrl+k"\n"table.up" = "k,up"\n"table.down" = "j,down"\n')
    result = run("--once", "--filter", "nothing-matches-this")
    assert result.returncode == 0, result.stderr


def test_print_config_prints_a_file_that_reads_back_the_same(tmp_path):
    result = run("--no-config", "--print-config")
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout) == {"keymap": {}}  # everything at its default: all commented
    for key in settings.settings_of(build_parser()):
        assert f"# {key} = " in result.stdout
    for key in APP_KEYS + TABLE_KEYS + SANDBOX_KEYS:
        assert f'# "{key.id}" = "{key.keys}"' in result.stdout

    write_config('interval = 2.5\nuser = ["root"]\ntheme = "textual-light"\nsandbox = false\n'
                 '[keymap.app]\nhelp = "f1"\n')
    printed = run("--print-config", "--sort", "mem", "--interval", "3").stdout
    data = tomllib.loads(printed)
    assert data == {"interval": 3.0, "user": ["root"], "theme": "textual-light", "sandbox": False, "sort": "mem",
                    "keymap": {"app.help": "f1"}}
    copy = tmp_path / "copy.toml"
    copy.write_text(printed)
    assert run("--config", str(copy), "--print-config").stdout.replace(str(copy), "X") == \
        printed.replace(str(settings.config_path()), "X").replace("  # from the command line", "")


def test_a_config_keymap_does_not_load_textual_for_once():
    write_config('[keymap]\n"app.help" = "f1"\n')
    code = ("import sys, io, contextlib\nfrom procwatch.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):"
            "\n    assert main(['--once']) == 0\nassert 'textual' not in sys.modules, 'textual loaded'\nprint('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            timeout=DEADLINE * 3)
    assert result.stdout.strip() == "ok", result.stderr


def test_kernel_threads_are_hidden_by_default_in_the_tui_and_flags_say_otherwise():
    parser = build_parser()
    assert parser.parse_args([]).kernel_threads is False
    assert parser.parse_args(["--kernel-threads"]).kernel_threads is True
    write_config("kernel-threads = true\nreadonly = true\n")
    chosen = settings.resolve(parser, ["--no-readonly"], parser.parse_args(["--no-readonly"]), remember=False)
    assert (chosen.args.kernel_threads, chosen.args.readonly) == (True, False)
    assert chosen.origins["readonly"] == "flag" and chosen.origins["kernel_threads"].endswith("config.toml:1")


def test_the_readme_example_config_is_accepted(tmp_path):
    readme = (pathlib.Path(REPO) / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "config.toml").write_text(example)
    result = run("--config", str(tmp_path / "config.toml"), "--print-config")
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout)["keymap"]["table.up"] == "k,up"
