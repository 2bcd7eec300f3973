"""Command line: `procwatch` opens the TUI; `--once` prints the tree (or `--json`) without importing Textual."""

from __future__ import annotations

import argparse
import math
import os
import pwd
import sys
from collections.abc import Sequence
from typing import NoReturn

from procwatch import __version__
from procwatch.engine.catalog import LANGUAGES, detect, set_language
from procwatch.engine.model import MAX_INTERVAL, MIN_INTERVAL
from procwatch.engine.remote import HostSpec, SshOptions
from procwatch.engine.stat import STATE_LETTERS
from procwatch.engine.tree import SORT_KEYS, ProcessFilter

SORT_CHOICES = tuple(SORT_KEYS)


class UsageError(Exception):
    """A bad command-line value: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one clear line instead of usage + message
        raise UsageError(message)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def add_host_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", metavar="[USER@]HOST[:PORT]", action="append", default=[],
                        help="watch this machine over ssh (repeatable; nothing is installed there)")
    parser.add_argument("--ssh-config", metavar="FILE", help="ssh configuration file, handed to ssh as -F FILE")
    parser.add_argument("--connect-timeout", metavar="SECONDS", default="10",
                        help="seconds ssh may take to connect to a host (default 10)")


def parse_host_arguments(args: argparse.Namespace) -> tuple[list[HostSpec], SshOptions]:
    """The hosts to watch (a plain list: a config file can supply it later) and how ssh is run."""
    hosts = []
    for text in args.host:
        try:
            hosts.append(HostSpec.parse(text))
        except ValueError as error:
            raise UsageError(f"--host: {error}") from None
    if args.ssh_config is not None and not os.access(args.ssh_config, os.R_OK):
        raise UsageError(f"--ssh-config: cannot read {args.ssh_config!r}")
    try:
        timeout = float(args.connect_timeout)
    except ValueError:
        timeout = math.nan
    if not (math.isfinite(timeout) and 1 <= timeout <= 600):
        raise UsageError(f"--connect-timeout: {args.connect_timeout!r} must be from 1 to 600 seconds")
    if (args.ssh_config is not None or args.connect_timeout != "10") and not hosts:
        raise UsageError("--ssh-config and --connect-timeout go with --host")
    return hosts, SshOptions(config=args.ssh_config, connect_timeout=timeout)


def parse_users(value: str, local: bool = True) -> frozenset[str]:
    """`local`: the names are this machine's (checked here); with --host they are the remote's, taken as given."""
    users = set()
    for name in value.split(","):
        name = name.strip()
        if not name:
            raise UsageError(f"--user: empty user name in {value!r}")
        if not local:
            pass
        elif name.isdigit():
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


def parse_interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise UsageError(f"--interval: {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise UsageError(f"--interval: {value!r} must be from {MIN_INTERVAL:g} to {MAX_INTERVAL:g} seconds")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="procwatch", description="Live process-state monitor: a process tree with decoded ps "
                     "STAT codes, zombies and orphans explained, and a sandbox of demo processes.")
    parser.add_argument("--version", action="version", version=f"procwatch {__version__}")
    parser.add_argument("--once", action="store_true", help="print the process tree once and exit (no TUI)")
    parser.add_argument("--json", action="store_true", help="with --once: print a JSON array, one object per process")
    parser.add_argument("--user", metavar="NAME[,NAME]", help="show only processes of these users (names or uids)")
    parser.add_argument("--state", metavar="LETTERS", help=f"show only processes in these states, e.g. Z or DZ "
                        f"(letters from {STATE_LETTERS})")
    parser.add_argument("--filter", metavar="TEXT", help="show only processes whose name, command line or pid "
                        "contains TEXT (case-insensitive)")
    parser.add_argument("--sort", metavar="KEY", default="pid", help=f"sort siblings by {', '.join(SORT_CHOICES)}")
    parser.add_argument("--interval", metavar="SECONDS", default="1", help="TUI refresh interval (default 1)")
    parser.add_argument("--theme", metavar="NAME", help="TUI colour theme (any Textual theme, e.g. textual-light)")
    parser.add_argument("--no-sandbox", action="store_true", help="disable the sandbox of demo processes")
    parser.add_argument("--lesson", action="store_true", help="start the guided lesson: the tutorial's sections "
                        "in order, each with a live demo (needs the sandbox)")
    parser.add_argument("--lang", metavar="LANG", help=f"language of every word shown: {', '.join(LANGUAGES)} "
                        "(default: PROCWATCH_LANG, then LC_ALL, LC_MESSAGES, LANG; zh* means Chinese)")
    add_host_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.sort not in SORT_CHOICES:
            raise UsageError(f"--sort: {args.sort!r} is not one of {', '.join(SORT_CHOICES)}")
        if args.json and not args.once:
            raise UsageError("--json goes with --once")
        if args.lesson and (args.once or args.no_sandbox):
            raise UsageError("--lesson is for the TUI with its sandbox (not with --once or --no-sandbox)")
        if args.once and args.theme is not None:
            raise UsageError("--theme is for the TUI; --once prints plain text")
        process_filter = ProcessFilter(
            users=parse_users(args.user, local=not args.host) if args.user is not None else frozenset(),
            states=parse_states(args.state) if args.state is not None else frozenset(),
            text=args.filter or "",
        )
        interval = parse_interval(args.interval)
        if args.lang is not None and args.lang not in LANGUAGES:
            raise UsageError(f"--lang: {args.lang!r} is not one of {', '.join(LANGUAGES)}")
        set_language(args.lang or detect(os.environ))
        hosts, ssh_options = parse_host_arguments(args)
    except UsageError as error:
        print(f"procwatch: {error} (see procwatch --help)", file=sys.stderr)
        return 2
    if args.once:
        from procwatch.report import run_once

        try:
            if hosts:
                from procwatch.hosts_report import run_hosts_once

                status = run_hosts_once(args, process_filter, hosts, ssh_options)
            else:
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
    from procwatch.ui.launcher import run_app

    return run_app(process_filter=process_filter, interval=interval, sort=args.sort, theme=args.theme,
                   sandbox=not args.no_sandbox, lesson=args.lesson, hosts=hosts, ssh_options=ssh_options)
