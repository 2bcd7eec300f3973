"""Test configuration. Engine tests use real processes: the test's own children, put into a state and compared
with `ps`. The helpers live in tests/support/ (see its __init__), one module per kind of fact; this file puts
tests/ on sys.path so that every test folder imports them as `support.X` (and screenshots/, for the
scenes the snapshot tests share with the README screenshots), and registers the fixtures."""

from __future__ import annotations

import os
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
