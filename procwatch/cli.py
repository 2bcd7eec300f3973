"""Command line: `procwatch` opens the TUI; `--once` prints the tree (or `--json`) without importing Textual."""

from __future__ import annotations

import argparse
import math
import os
import pwd
import sys
from collections.abc import Sequence
from typing import NoReturn

from procwatch import __version__, manual, settings
from procwatch.engine.model import MAX_INTERVAL, MIN_INTERVAL
from procwatch.engine.stat import STATE_LETTERS
from procwatch.engine.tree import SORT_KEYS, ProcessFilter
from procwatch.ui.web import served_session  # no Textual: an environment variable

SORT_CHOICES = tuple(SORT_KEYS)


class UsageError(Exception):
    """A bad command-line value: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one clear line instead of usage + message
        raise UsageError(message)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def parse_users(value: str) -> frozenset[str]:
    users = set()
    for name in value.split(","):
        name = name.strip()
        if not name:
            raise UsageError(f"--user: empty user name in {value!r}")
        if name.isdigit():
            try:
                name = pwd.getpwuid(int(name)).pw_name
            except (KeyError, OverflowError):
                pass  # a uid without a name: processes show it numerically too
        else:
            try:
                pwd.getpwnam(name)
            except KeyError:
                raise UsageError(f"--user: unknown user {name!r}") from None
        users.add(name)
    return frozenset(users)


def parse_states(value: str) -> frozenset[str]:
    bad = [c for c in value if c not in STATE_LETTERS]
    if not value or bad:
        raise UsageError(f"--state: {''.join(bad) or 'nothing'!r} is not a state; use letters from {STATE_LETTERS}")
    return frozenset(value)


def parse_sort(value: str) -> str:
    if value not in SORT_CHOICES:
        raise UsageError(f"--sort: {value!r} is not one of {', '.join(SORT_CHOICES)}")
    return value


def parse_bind(value: str) -> tuple[str, int]:
    host, colon, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")  # [::1]:8000
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--bind: {value!r} is not HOST:PORT, e.g. 127.0.0.1:8000")
    return host, int(port)


def parse_interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise UsageError(f"--interval: {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise UsageError(f"--interval: {value!r} must be from {MIN_INTERVAL:g} to {MAX_INTERVAL:g} seconds")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    """The one parser: the config keys (procwatch.settings), the completion and the man page are made from it, so a
    value is checked by its `type` wherever it comes from (a flag, the config file, the remembered state)."""
    parser = _Parser(prog="procwatch", description="Live process-state monitor: a process tree with decoded ps "
                     "STAT codes, zombies and orphans explained, and a sandbox of demo processes.")
    parser.add_argument("--version", action="version", version=f"procwatch {__version__}")
    parser.add_argument("--once", action="store_true", help="print the process tree once and exit (no TUI)")
    parser.add_argument("--json", action="store_true", help="with --once: print a JSON array, one object per process")
    parser.add_argument("--user", metavar="NAME[,NAME]", type=parse_users,
                        help="show only processes of these users (names or uids)")
    parser.add_argument("--state", metavar="LETTERS", type=parse_states, help=f"show only processes in these "
                        f"states, e.g. Z or DZ (letters from {STATE_LETTERS})")
    parser.add_argument("--filter", metavar="TEXT", help="show only processes whose name, command line or pid "
                        "contains TEXT (case-insensitive)")
    parser.add_argument("--sort", metavar="KEY", default="pid", type=parse_sort, choices=SORT_CHOICES,
                        help=f"sort siblings by {', '.join(SORT_CHOICES)}")
    parser.add_argument("--interval", metavar="SECONDS", default="1", type=parse_interval,
                        help="TUI refresh interval (default 1)")
    parser.add_argument("--theme", metavar="NAME", help="TUI colour theme (any Textual theme, e.g. textual-light)")
    parser.add_argument("--sandbox", action=argparse.BooleanOptionalAction, default=True,
                        help="the sandbox of demo processes (on by default; --no-sandbox turns it off)")
    parser.add_argument("--kernel-threads", action=argparse.BooleanOptionalAction, default=False,
                        help="TUI: show kernel threads (hidden by default, as htop does; K toggles them)")
    parser.add_argument("--readonly", action=argparse.BooleanOptionalAction, default=False,
                        help="TUI: send no signal, start no sandbox (for shared screens and --web)")
    parser.add_argument("--web", action="store_true", help="serve the TUI to web browsers (textual-serve: pip "
                        "install 'procwatch-tui[web]'); read-only unless --no-readonly is given")
    parser.add_argument("--bind", metavar="HOST:PORT", default="127.0.0.1:8000", type=parse_bind,
                        help="with --web: where to listen (default 127.0.0.1:8000, this machine only)")
    settings.add_arguments(parser)
    manual.add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.json and not args.once:
            raise UsageError("--json goes with --once")
        if args.once and args.theme is not None:
            raise UsageError("--theme is for the TUI; --once prints plain text")
        if args.web and args.once:
            raise UsageError("--web serves the TUI; --once prints plain text")
        if manual.wanted(args):
            sys.stdout.write(manual.generate(parser, args))
            return 0
        # Only the TUI in a terminal remembers: not --once (scripts), not --web nor its tabs (a visitor's theme is
        # not the owner's).
        remember = not (args.once or args.print_config or args.web or served_session())
        chosen = settings.resolve(parser, argv, args, remember=remember)
        args = chosen.args
        if args.print_config:
            sys.stdout.write(settings.render(parser, chosen))
            return 0
        process_filter = ProcessFilter(users=args.user or frozenset(), states=args.state or frozenset(),
                                       text=args.filter or "")
    except UsageError as error:
        print(f"procwatch: {error} (see procwatch --help)", file=sys.stderr)
        return 2
    except settings.SettingsError as error:
        print(f"procwatch: {error}", file=sys.stderr)
        return 2
    if args.once:
        from procwatch.report import run_once

        try:
            status = run_once(args, process_filter)
            sys.stdout.flush()  # here, not at interpreter exit, where an error would only be "ignored"
            return status
        except BrokenPipeError:  # `procwatch --once | head`: the reader has all it wanted
            _silence_stdout()
            return 0
        except OSError as error:  # a full disk, a closed descriptor...
            _silence_stdout()
            print(f"procwatch: cannot write the output: {error.strerror or error}", file=sys.stderr)
            return 1
    if args.web and not served_session():
        from procwatch.ui.web import serve

        # Read-only unless the command line itself said --no-readonly (a config's default does not count).
        explicit_no = chosen.origins.get("readonly") == "flag" and not args.readonly
        host, port = args.bind
        return serve(host, port, sys.argv[1:] if argv is None else argv, readonly=not explicit_no)
    from procwatch.ui.launcher import run_app

    return run_app(process_filter=process_filter, interval=args.interval, sort=args.sort, theme=args.theme,
                   sandbox=args.sandbox, hide_kernel=not args.kernel_threads, readonly=args.readonly,
                   keymap=chosen.keymap, state=chosen.state, remembered=chosen.remembered, notices=chosen.notices,
                   theme_origin=chosen.origins.get("theme"))
