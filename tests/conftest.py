"""Test configuration. Engine tests use real processes: the test's own children, put into a state and compared
with `ps`. The helpers live in tests/support/ (see its __init__), one module per kind of fact; this file puts
tests/ on sys.path so that every test folder imports them as `support.X` (and screenshots/, for the
scenes the snapshot tests share with the README screenshots), and registers the fixtures."""

from __future__ import annotations

import os
import pathlib
import sys
from collections.abc import Iterator

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [TESTS, os.path.join(os.path.dirname(TESTS), "screenshots")]  # support.*, and scenes (one table)

from procwatch.engine import catalog  # noqa: E402 (after the path is set, like every test module)

pytest_plugins = ["support.children", "support.sshd"]  # `children`, `no_leftover_children`; `sshd_hosts`


@pytest.fixture(autouse=True)
def english_unless_asked() -> Iterator[None]:
    """The language is process-wide: every test starts in English and leaves English behind."""
    catalog.set_language("en")
    yield
    catalog.set_language("en")


@pytest.fixture(autouse=True)
def no_user_settings(tmp_path_factory) -> Iterator[pathlib.Path]:
    """Keep the user's own config and remembered state out of every test (and every procwatch a test starts:
    subprocesses inherit the environment), and never write theirs. (Not through `monkeypatch`: an autouse fixture
    holding it would undo a test's own patches only after every other fixture's teardown.)"""
    home = tmp_path_factory.mktemp("xdg")
    saved = {name: os.environ.get(name) for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME")}
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    os.environ["XDG_STATE_HOME"] = str(home / "state")
    yield home
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_terminal_summary(terminalreporter):
    """Print the numbers the issue's closing note asks for (recorded by tests with `record_property`)."""
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name.startswith("summary:") and getattr(report, "when", "call") == "call":
                    lines.append(f"{name[len('summary:'):]}: {value}")
    if lines:
        terminalreporter.section("procwatch engine numbers")
        for line in sorted(set(lines)):
            terminalreporter.write_line(line)
