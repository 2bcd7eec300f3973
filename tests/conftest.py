"""Test configuration. Engine tests use real processes: the test's own children, put into a state and compared
with `ps`. The helpers live in tests/support/ (see its __init__), one module per kind of fact; this file puts
tests/ on sys.path so that every test folder imports them as `support.X` (and screenshots/, for the
scenes the snapshot tests share with the README screenshots), and registers the fixtures."""

from __future__ import annotations

import os
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [TESTS, os.path.join(os.path.dirname(TESTS), "screenshots")]  # support.*, and scenes (one table)

pytest_plugins = ["support.children", "support.sshd"]  # `children`, `no_leftover_children`; `sshd_hosts`


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
