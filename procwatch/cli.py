"""Command line: `procwatch` opens the TUI; `--once` prints the tree (or `--json`) without importing Textual."""

from __future__ import annotations

import argparse
import math
import os
import pwd
import sys
from collections.abc import Callable, Sequence
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
    if hosts and (args.check or args.watch or args.procfs != "/proc" or args.lesson):
        raise UsageError("--host goes with the TUI and --once (--check, --watch, --procfs and --lesson read this "
                         "machine)")
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


def parse_units(value: str) -> frozenset[str]:
    units = frozenset(name.strip() for name in value.split(","))
    if "" in units:
        raise UsageError(f"--unit: empty unit name in {value!r}")
    return units


def check_script_modes(args: argparse.Namespace) -> None:
    """The combinations of --once, --check, --watch and their own flags that make sense; ranges parsed here."""
    from procwatch.engine.checks import parse_range
    from procwatch.engine.columns import parse_columns

    modes = [flag for flag, on in (("--once", args.once), ("--check", args.check), ("--watch", args.watch)) if on]
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} do not go together; choose one")
    for flag, value in (("--warning", args.warning), ("--critical", args.critical), ("--per-parent",
                        args.per_parent or None), ("--min-age", args.min_age)):
        if value is not None and not args.check:
            raise UsageError(f"{flag} goes with --check")
    if args.snapshots and not args.watch:
        raise UsageError("--snapshots goes with --watch")
    if args.columns is not None:
        if args.check or args.watch or args.json:
            raise UsageError("--columns goes with --once (text) or the TUI")
        try:
            parse_columns(args.columns)
        except ValueError as error:
            raise UsageError(f"--columns: {error}") from None
    if args.min_age is not None and not (math.isfinite(args.min_age) and args.min_age >= 0):
        raise UsageError(f"--min-age: {args.min_age!r} must be a number of seconds, 0 or more")
    for name in ("warning", "critical"):
        text = getattr(args, name)
        try:
            setattr(args, f"{name}_range", parse_range(text) if text is not None else None)
        except ValueError as error:
            raise UsageError(f"--{name}: {error}") from None
    if not any(entry.isdigit() for entry in _listdir(args.procfs)):
        raise UsageError(f"--procfs: {args.procfs!r} is not a procfs (no process directories in it)")


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _script_output(run: Callable[[], int]) -> int:
    """Run --check or --watch: a closed pipe (`| head`) and Ctrl+C end quietly with status 0."""
    try:
        status = run()
        sys.stdout.flush()
        return status
    except (BrokenPipeError, KeyboardInterrupt):
        _silence_stdout()
        return 0
    except OSError as error:
        _silence_stdout()
        print(f"procwatch: cannot write the output: {error.strerror or error}", file=sys.stderr)
        return 1


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
    add_script_arguments(parser)
    add_host_arguments(parser)
    return parser


def add_script_arguments(parser: argparse.ArgumentParser) -> None:
    """Columns, cgroups, --check, --watch and --procfs (issue 13): plain flags, one per setting."""
    parser.add_argument("--columns", metavar="NAME[,NAME]", help="columns to show, in order (ps -o names work "
                        "too), e.g. pid,ppid,stat,args; with --once or in the TUI")
    parser.add_argument("--unit", metavar="UNIT[,UNIT]", help="show only processes of these systemd units or "
                        "containers, e.g. ssh.service")
    parser.add_argument("--cgroup", metavar="TEXT", help="show only processes whose cgroup path contains TEXT")
    parser.add_argument("--procfs", metavar="PATH", default="/proc", help="read processes from this procfs "
                        "(a host's /proc mounted in a container); signals and the sandbox are off when it is "
                        "not this process's own")
    parser.add_argument("--check", action="store_true", help="monitoring check (as check_procs): count the "
                        "processes the filters select; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
    parser.add_argument("--warning", metavar="RANGE", help="with --check: WARNING when the count is outside this "
                        "Nagios range (10, 5:, ~:3, 1:3; @1:3 alerts inside)")
    parser.add_argument("--critical", metavar="RANGE", help="with --check: CRITICAL when the count is outside "
                        "this Nagios range")
    parser.add_argument("--per-parent", action="store_true", help="with --check: judge the parent with most "
                        "selected children (e.g. the zombie leaker) and name it")
    parser.add_argument("--min-age", metavar="SECONDS", type=float, help="with --check: count only processes "
                        "in their current state for at least SECONDS")
    parser.add_argument("--watch", action="store_true", help="print one line per event (new, exec, state, "
                        "zombie, reparented, exited, reaped, threads) until interrupted; --json for JSON Lines")
    parser.add_argument("--snapshots", action="store_true", help="with --watch: also one line per sweep")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.sort not in SORT_CHOICES:
            raise UsageError(f"--sort: {args.sort!r} is not one of {', '.join(SORT_CHOICES)}")
        check_script_modes(args)
        if args.json and not (args.once or args.watch):
            raise UsageError("--json goes with --once or --watch")
        if args.lesson and (args.once or args.check or args.watch or args.no_sandbox):
            raise UsageError("--lesson is for the TUI with its sandbox (not with --once, --check, --watch or "
                             "--no-sandbox)")
        if (args.once or args.check or args.watch) and args.theme is not None:
            raise UsageError("--theme is for the TUI; --once, --check and --watch print plain text")
        process_filter = ProcessFilter(
            users=parse_users(args.user, local=not args.host) if args.user is not None else frozenset(),
            states=parse_states(args.state) if args.state is not None else frozenset(),
            text=args.filter or "",
            units=parse_units(args.unit) if args.unit is not None else frozenset(),
            cgroup=args.cgroup or "",
        )
        interval = parse_interval(args.interval)
        if args.lang is not None and args.lang not in LANGUAGES:
            raise UsageError(f"--lang: {args.lang!r} is not one of {', '.join(LANGUAGES)}")
        set_language(args.lang or detect(os.environ))
        hosts, ssh_options = parse_host_arguments(args)
    except UsageError as error:
        if "--check" in argv:  # a monitoring system reads stdout, and 2 would mean CRITICAL: UNKNOWN is 3
            print(f"PROCS UNKNOWN: {error}")
            return 3
        print(f"procwatch: {error} (see procwatch --help)", file=sys.stderr)
        return 2
    if args.check:
        from procwatch.check import run_check

        return _script_output(lambda: run_check(args, process_filter, args.warning_range, args.critical_range))
    if args.watch:
        from procwatch.watch import run_watch

        return _script_output(lambda: run_watch(args, process_filter, interval))
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
    return _run_tui(args, process_filter, interval, hosts, ssh_options)


def _run_tui(args: argparse.Namespace, process_filter: ProcessFilter, interval: float,
             hosts: Sequence[HostSpec] = (), ssh_options: SshOptions | None = None) -> int:
    from procwatch.engine.columns import parse_columns
    from procwatch.ui.launcher import run_app

    return run_app(process_filter=process_filter, interval=interval, sort=args.sort, theme=args.theme,
                   sandbox=not args.no_sandbox, columns=parse_columns(args.columns) if args.columns else None,
                   procfs=args.procfs, lesson=args.lesson, hosts=hosts, ssh_options=ssh_options)
