"""Command line: `procwatch` opens the TUI; `--once` prints the tree (or `--json`) without importing Textual."""

from __future__ import annotations

import argparse
import math
import os
import pwd
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from procwatch import __version__, manual, settings
from procwatch.engine.catalog import LANGUAGES, detect, set_language
from procwatch.engine.model import MAX_INTERVAL, MIN_INTERVAL
from procwatch.engine.stat import STATE_LETTERS
from procwatch.engine.tree import SORT_KEYS, ProcessFilter
from procwatch.ui.web import served_session  # no Textual: an environment variable

if TYPE_CHECKING:  # imported where --host is used: --once on this machine does not pay for the ssh code
    from procwatch.engine.hosts import HostSpec, SshOptions

SORT_CHOICES = tuple(SORT_KEYS)


class UsageError(Exception):
    """A bad command-line value: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one clear line instead of usage + message
        raise UsageError(message)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def parse_host(value: str) -> HostSpec:
    from procwatch.engine.hosts import HostSpec

    try:
        return HostSpec.parse(value)
    except ValueError as error:
        raise UsageError(f"--host: {error}") from None


def parse_ssh_option(value: str) -> str:
    from procwatch.engine.hosts import check_ssh_option

    try:
        return check_ssh_option(value)
    except ValueError as error:
        raise UsageError(f"--ssh-option: {error}") from None


def parse_groups(value: str) -> tuple[str, ...]:
    from procwatch.engine.hosts import check_group

    try:
        return tuple(check_group(name.strip()) for name in value.split(","))
    except ValueError as error:
        raise UsageError(f"--group: {error}") from None


def parse_ssh_config(value: str) -> str:
    if not os.access(value, os.R_OK):
        raise UsageError(f"--ssh-config: cannot read {value!r}")
    return value


def parse_connect_timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 1 <= seconds <= 600):
        raise UsageError(f"--connect-timeout: {value!r} must be from 1 to 600 seconds")
    return seconds


def add_host_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", metavar="[USER@]HOST[:PORT]", action="append", default=[], type=parse_host,
                        help="watch this machine over ssh (repeatable; nothing is installed there)")
    parser.add_argument("--group", metavar="GROUP[,GROUP]", action="append", default=[], type=parse_groups,
                        help="watch the hosts of these groups of the config file's [[hosts]] list (repeatable; "
                        "all: every host listed)")
    parser.add_argument("--ssh-option", metavar="OPTION", action="append", default=[], type=parse_ssh_option,
                        help="with --host or --group: one more ssh -o option, e.g. ProxyJump=bastion (repeatable)")
    parser.add_argument("--ssh-config", metavar="FILE", type=parse_ssh_config,
                        help="with --host or --group: ssh configuration file, handed to ssh as -F FILE")
    parser.add_argument("--connect-timeout", metavar="SECONDS", default=10.0, type=parse_connect_timeout,
                        help="with --host or --group: seconds ssh may take to connect to a host (default 10)")


def choose_hosts(args: argparse.Namespace, chosen: settings.Chosen) -> tuple[list[HostSpec], SshOptions | None]:
    """The hosts to watch and how ssh is run (None: no host, this machine).

    The config's [[hosts]] list is a catalogue, not a default: `procwatch` alone watches this machine, and the
    list is used when `--group NAME` picks from it (`all`: every host) or `--host NAME` names one of its hosts
    (then with that host's ssh-option). Why not open the list by default: --check, --watch and --once in scripts
    and monitoring must not turn into network calls because someone added hosts to the file; the sandbox and the
    lesson are this machine's; and a laptop offline would open on a fleet of disconnected rows. Who wants the fleet
    by default writes an alias (`alias pwf='procwatch --group all'`)."""
    wanted_groups = [name for names in args.group for name in names]
    listed = {entry.spec.label: entry for entry in chosen.hosts}
    hosts: dict[str, HostSpec] = {}
    for name in wanted_groups:
        members = [entry.spec for entry in chosen.hosts if name == "all" or name in entry.groups]
        if not members:
            where = chosen.config or settings.config_path()
            known = sorted({group for entry in chosen.hosts for group in entry.groups} | ({"all"} if chosen.hosts
                                                                                           else set()))
            raise UsageError(f"--group: no host of {where} is in group {name!r}" + (
                f" (groups: {', '.join(known)})" if known else " (it lists no [[hosts]])"))
        hosts.update((spec.label, spec) for spec in members if spec.label not in hosts)
    for spec in args.host:  # a host named on the command line, with its ssh-option when the file lists it
        entry = listed.get(spec.label)
        hosts.setdefault(spec.label, entry.spec if entry is not None else spec)
    if not hosts:
        if args.ssh_option and chosen.origins.get("ssh_option") == "flag" and not args.print_config:
            raise UsageError("--ssh-option goes with --host or --group")
        return [], None
    if args.procfs != "/proc" or args.lesson or args.web:
        raise UsageError("--host and --group go with the TUI, --once, --watch and --check (--procfs, --lesson and "
                         "--web read this machine)")
    from procwatch.engine.hosts import SshOptions

    return list(hosts.values()), SshOptions(config=args.ssh_config, connect_timeout=args.connect_timeout,
                                            extra=tuple(args.ssh_option))


def parse_users(value: str) -> frozenset[str]:
    """The names (or uids) as given: whether they exist is for the machine watched to say (local_users)."""
    users = set()
    for name in value.split(","):
        name = name.strip()
        if not name:
            raise UsageError(f"--user: empty user name in {value!r}")
        users.add(name)
    return frozenset(users)


def local_users(users: frozenset[str], origin: str | None) -> frozenset[str]:
    """--user on this machine: every name must exist here; a uid becomes its name (processes show names). Not
    with --host: a remote has its own users (names are matched there, and a uid matches the remote's uid)."""
    local = set()
    for name in sorted(users):
        if name.isdigit():
            try:
                name = pwd.getpwuid(int(name)).pw_name
            except (KeyError, OverflowError):
                pass  # a uid without a name: processes show it numerically too
        else:
            try:
                pwd.getpwnam(name)
            except KeyError:
                if origin not in (None, "flag"):  # from the config file: named as its other errors are
                    raise settings.SettingsError(f"{origin}: user: unknown user {name!r}") from None
                raise UsageError(f"--user: unknown user {name!r}") from None
        local.add(name)
    return frozenset(local)


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


def parse_lang(value: str) -> str:
    if value not in LANGUAGES:
        raise UsageError(f"--lang: {value!r} is not one of {', '.join(LANGUAGES)}")
    return value


def parse_units(value: str) -> frozenset[str]:
    units = frozenset(name.strip() for name in value.split(","))
    if "" in units:
        raise UsageError(f"--unit: empty unit name in {value!r}")
    return units


def columns_text(value: str) -> str:
    """--columns as given, once checked (the TUI and --once parse it when they draw)."""
    from procwatch.engine.columns import parse_columns

    try:
        parse_columns(value)
    except ValueError as error:
        raise UsageError(f"--columns: {error}") from None
    return value


def check_script_modes(args: argparse.Namespace) -> None:
    """The combinations of --once, --check, --watch and their own flags that make sense; ranges parsed here."""
    modes = [flag for flag, on in (("--once", args.once), ("--check", args.check), ("--watch", args.watch)) if on]
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} do not go together; choose one")
    for flag, value in (("--warning", args.warning), ("--critical", args.critical), ("--per-parent",
                        args.per_parent or None), ("--min-age", args.min_age)):
        if value is not None and not args.check:
            raise UsageError(f"{flag} goes with --check")
    if args.snapshots and not args.watch:
        raise UsageError("--snapshots goes with --watch")
    if args.columns is not None and (args.check or args.watch or args.json):  # (checked by its type=)
        raise UsageError("--columns goes with --once (text) or the TUI")
    if args.min_age is not None and not (math.isfinite(args.min_age) and args.min_age >= 0):
        raise UsageError(f"--min-age: {args.min_age!r} must be a number of seconds, 0 or more")
    parse_ranges(args)
    if not any(entry.isdigit() for entry in _listdir(args.procfs)):
        raise UsageError(f"--procfs: {args.procfs!r} is not a procfs (no process directories in it)")


def parse_ranges(args: argparse.Namespace) -> None:
    """--warning and --critical as Nagios ranges, set as args.warning_range and args.critical_range."""
    from procwatch.engine.checks import parse_range

    for name in ("warning", "critical"):
        text = getattr(args, name)
        try:
            setattr(args, f"{name}_range", parse_range(text) if text is not None else None)
        except ValueError as error:
            raise UsageError(f"--{name}: {error}") from None


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
    """The one parser: the config keys (procwatch.settings), the completion and the man page are made from it, so a
    value is checked by its `type` wherever it comes from (a flag, the config file, the remembered state)."""
    parser = _Parser(prog="procwatch", description="Live process-state monitor: a process tree with decoded ps "
                     "STAT codes, zombies and orphans explained, and a sandbox of demo processes.")
    parser.add_argument("--version", action="version", version=f"procwatch {__version__}")
    parser.add_argument("--once", action="store_true", help="print the process tree once and exit (no TUI)")
    parser.add_argument("--json", action="store_true", help="with --once: print a JSON array, one object per "
                        "process; with --watch: JSON Lines")
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
    parser.add_argument("--lesson", action="store_true", help="start the guided lesson: the tutorial's sections "
                        "in order, each with a live demo (needs the sandbox)")
    parser.add_argument("--lang", metavar="LANG", type=parse_lang, help=f"language of every word shown: "
                        f"{', '.join(LANGUAGES)} (default: PROCWATCH_LANG, then LC_ALL, LC_MESSAGES, LANG; zh* is "
                        "Chinese); --json stays English")
    add_script_arguments(parser)
    add_host_arguments(parser)
    settings.add_arguments(parser)
    manual.add_arguments(parser)
    return parser


def add_script_arguments(parser: argparse.ArgumentParser) -> None:
    """Columns, cgroups, --check, --watch and --procfs (issue 13): plain flags, one per setting."""
    parser.add_argument("--columns", metavar="NAME[,NAME]", type=columns_text, help="columns to show, in order (ps -o names work "
                        "too), e.g. pid,ppid,stat,args; with --once or in the TUI")
    parser.add_argument("--unit", metavar="UNIT[,UNIT]", type=parse_units, help="show only processes of these systemd units or "
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
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        # Combinations are judged on the command line alone, before the config file fills in its values.
        check_script_modes(args)
        if args.json and not (args.once or args.watch):
            raise UsageError("--json goes with --once or --watch")
        if (args.once or args.check or args.watch) and args.theme is not None:
            raise UsageError("--theme is for the TUI; --once, --check and --watch print plain text")
        if args.web and (args.once or args.check or args.watch):
            raise UsageError("--web serves the TUI; --once, --check and --watch print plain text")
        if args.lesson and (args.once or args.check or args.watch or not args.sandbox or args.readonly):
            raise UsageError("--lesson is for the TUI with its sandbox (not with --once, --check, --watch, "
                             "--no-sandbox or --readonly)")
        if manual.wanted(args):
            sys.stdout.write(manual.generate(parser, args))
            return 0
        # Only the TUI in a terminal remembers: not the scripts' modes, not --web nor its tabs (a visitor's theme
        # is not the owner's).
        script = args.once or args.check or args.watch
        remember = not (script or args.print_config or args.web or served_session())
        chosen = settings.resolve(parser, argv, args, remember=remember)
        args = chosen.args
        parse_ranges(args)  # again, on the namespace the settings made
        hosts, ssh_options = choose_hosts(args, chosen)
        if args.user and not hosts:
            args.user = local_users(args.user, chosen.origins.get("user"))
        if args.print_config:
            sys.stdout.write(settings.render(parser, chosen))
            return 0
        set_language(args.lang or detect(os.environ))
        process_filter = ProcessFilter(users=args.user or frozenset(), states=args.state or frozenset(),
                                       text=args.filter or "", units=args.unit or frozenset(),
                                       cgroup=args.cgroup or "")
    except (UsageError, settings.SettingsError) as error:
        if "--check" in argv:  # a monitoring system reads stdout, and 2 would mean CRITICAL: UNKNOWN is 3
            print(f"PROCS UNKNOWN: {error}")
            return 3
        hint = " (see procwatch --help)" if isinstance(error, UsageError) else ""
        print(f"procwatch: {error}{hint}", file=sys.stderr)
        return 2
    if args.check:
        from procwatch.check import run_check, run_hosts_check

        if hosts:
            assert ssh_options is not None
            return _script_output(lambda: run_hosts_check(args, process_filter, args.warning_range,
                                                          args.critical_range, hosts, ssh_options))
        return _script_output(lambda: run_check(args, process_filter, args.warning_range, args.critical_range))
    if args.watch:
        from procwatch.watch import run_hosts_watch, run_watch

        if hosts:
            assert ssh_options is not None
            return _script_output(lambda: run_hosts_watch(args, process_filter, args.interval, hosts, ssh_options))
        return _script_output(lambda: run_watch(args, process_filter, args.interval))
    if args.once:
        from procwatch.report import run_once

        try:
            if hosts:
                from procwatch.hosts_report import run_hosts_once

                assert ssh_options is not None
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
    if args.web and not served_session():
        from procwatch.ui.web import serve

        # Read-only unless the command line itself said --no-readonly (a config's default does not count).
        explicit_no = chosen.origins.get("readonly") == "flag" and not args.readonly
        host, port = args.bind
        return serve(host, port, argv, readonly=not explicit_no)
    from procwatch.engine.columns import parse_columns
    from procwatch.ui.launcher import run_app

    return run_app(process_filter=process_filter, interval=args.interval, sort=args.sort, theme=args.theme,
                   sandbox=args.sandbox, hide_kernel=not args.kernel_threads, readonly=args.readonly,
                   keymap=chosen.keymap, state=chosen.state, remembered=chosen.remembered, notices=chosen.notices,
                   theme_origin=chosen.origins.get("theme"), lesson=args.lesson,
                   columns=parse_columns(args.columns) if args.columns else None, procfs=args.procfs,
                   hosts=hosts, ssh_options=ssh_options)
