"""Settings: `$XDG_CONFIG_HOME/procwatch/config.toml` (fallback `~/.config`), and what the TUI remembered
(procwatch.engine.state).

Every flag of the one argument parser is a config key, named as the flag without its dashes (`--interval 2` is
`interval = 2`, `--no-sandbox` is `sandbox = false`): the keys, their types and their checks are read from the
parser's actions, so a flag added to the parser is a key the day it is added. A value from the file goes through
the same `type=` function as the flag, so it is refused for the same reasons, with the file, line and key named.

Precedence: command-line flags > config file > remembered state (TUI only) > defaults. procwatch never writes the
config file. No Textual here: `--once` reads the config too.

`[[hosts]]` tables list machines to watch over ssh (`host`, checked by the parser `--host` uses, `group`/`groups`,
`ssh-option`). The list is a catalogue, not a default: `--group NAME` chooses from it, and `procwatch` alone still
watches this machine (see procwatch.cli.choose_hosts for why).
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procwatch.engine.state import StateFile, state_dir

if TYPE_CHECKING:
    from procwatch.engine.hosts import HostSpec

CONFIG_FILE = "config.toml"
# Flags that say what to do this time (a command), not how procwatch should be: no config key.
# Commands, one-off modes and thresholds: flags of one run, not settings (a config file never turns them on).
NOT_SETTINGS = frozenset({"help", "version", "once", "json", "web", "config", "no_config", "print_config", "print_completion",
                          "print_man", "watch", "check", "snapshots", "warning", "critical", "per_parent", "min_age",
                          "lesson", "host", "group"})  # which hosts to watch this time: [[hosts]] lists them
# Keys the TUI remembers when the user changes them at run time (only those the parser has are used).
REMEMBERED = ("theme", "sort", "interval", "kernel-threads", "columns", "lang")
KEYMAP = "keymap"
HOSTS = "hosts"
HOST_KEYS = ("host", "group", "groups", "ssh-option")  # the keys of a [[hosts]] table


class SettingsError(Exception):
    """A bad config file: one line naming the file, the line and the key; exit status 2."""


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"  # XDG: ignore a relative path
    return root / "procwatch" / CONFIG_FILE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings")
    group.add_argument("--config", metavar="PATH", help=f"read settings from PATH instead of "
                       f"$XDG_CONFIG_HOME/procwatch/{CONFIG_FILE} (~/.config/procwatch/{CONFIG_FILE})")
    group.add_argument("--no-config", action="store_true",
                       help="read no config file (the TUI still uses what it remembered)")
    group.add_argument("--print-config", action="store_true",
                       help="print the effective settings as a commented config file, and exit")


# -- the keys, from the parser ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    key: str  # the TOML key: the long flag without its dashes
    option: str  # the flag, for messages
    kind: str  # "bool", "number", "string" or "list" (a repeatable flag: a string or an array of strings)
    action: argparse.Action

    @property
    def dest(self) -> str:
        return self.action.dest

    def convert(self, value: Any) -> Any:
        """The value the flag would give, or ValueError with a message that names no file."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"expected true or false, got {_describe(value)}")
            return value
        if self.kind == "list":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                raise ValueError(f"expected a string or an array of strings, got {_describe(value)}")
            return [self._one(item) for item in items]
        if self.kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"expected a number, got {_describe(value)}")
            text = str(value)
        elif isinstance(value, str):
            text = value
        elif isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            text = ",".join(value)  # user = ["root", "www-data"] is --user root,www-data
        else:
            raise ValueError(f"expected a string, got {_describe(value)}")
        return self._one(text)

    def _one(self, text: str) -> Any:
        try:
            converted = self.action.type(text) if callable(self.action.type) else text
        except Exception as error:  # UsageError, ValueError, ArgumentTypeError: the flag's own message
            raise ValueError(str(error).removeprefix(f"{self.option}: ")) from None
        if self.action.choices is not None and converted not in self.action.choices:
            raise ValueError(f"{text!r} is not one of {', '.join(map(str, self.action.choices))}")
        return converted


def settings_of(parser: argparse.ArgumentParser) -> dict[str, Setting]:
    """Every flag of the parser as a setting, by key."""
    table = {}
    for action in parser._actions:
        longs = [option for option in action.option_strings if option.startswith("--")]
        if not longs or action.dest in NOT_SETTINGS or action.dest == argparse.SUPPRESS:
            continue
        table[longs[0][2:]] = Setting(longs[0][2:], longs[0], _kind(action), action)
    return table


def _kind(action: argparse.Action) -> str:
    if action.nargs == 0:  # store_true/false, BooleanOptionalAction: a switch
        return "bool"
    if isinstance(action, argparse._AppendAction):  # repeatable: the file gives the whole list
        return "list"
    kind = action.type
    if callable(kind) and not isinstance(kind, type):  # a checking function: what does it return?
        annotation = inspect.signature(kind).return_annotation
        kind = {"int": int, "float": float}.get(annotation, annotation) if isinstance(annotation, str) else annotation
    return "number" if kind in (int, float) else "string"


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)
    return f"{kind} ({_toml(value)})" if not isinstance(value, dict) else kind


# -- the keymap ---------------------------------------------------------------------------------------------------

_KEY_ALIASES = {"hyphen_minus": "minus", "plus_sign": "plus"}  # Textual's names for the same keys
_MODIFIED = re.compile(r"^((ctrl|shift|alt|meta|super|hyper)\+)*[A-Za-z0-9_]+$")


def normal_key(key: str) -> str:
    """A key as Textual names it: "?" is question_mark (as App.set_keymap does it), for finding clashes."""
    if len(key) == 1 and not key.isalnum():
        try:
            key = unicodedata.name(key).lower().replace("-", "_").replace(" ", "_")
        except ValueError:
            pass
    return _KEY_ALIASES.get(key, key)


def keymap_scopes() -> list[dict[str, str]]:
    """Bindings active together, as {binding id: default keys}: the app's keys with the tree's, and with the
    sandbox list's. Imported here, not at the top: the key table is read only when a keymap is given."""
    from procwatch.ui.keys import APP_KEYS, SANDBOX_KEYS, TABLE_KEYS

    return [{key.id: key.keys for key in APP_KEYS + extra} for extra in (TABLE_KEYS, SANDBOX_KEYS)]


def binding_ids() -> dict[str, str]:
    """Every binding id with its default keys."""
    return {binding: keys for scope in keymap_scopes() for binding, keys in scope.items()}


def check_keymap(keymap: Mapping[str, Any], where: Any) -> dict[str, str]:
    """The keymap as App.set_keymap takes it, or SettingsError. `where(id)` says "file:line" for an entry."""
    known = binding_ids()
    for binding, keys in keymap.items():
        if binding not in known:
            close = _close_matches(binding, known)
            hint = f"; did you mean {close[0]!r}?" if close else "; procwatch --print-config lists them"
            raise SettingsError(f"{where(binding)}: {KEYMAP}.{binding}: unknown binding id{hint}")
        if not isinstance(keys, str):
            raise SettingsError(f"{where(binding)}: {KEYMAP}.{binding}: expected a string of keys, got "
                                f"{_describe(keys)}")
        for key in keys.split(","):
            key = key.strip()
            if not key or (len(key) > 1 and not _MODIFIED.match(key)):
                raise SettingsError(f"{where(binding)}: {KEYMAP}.{binding}: {key!r} is not a key name (e.g. "
                                    "q, ctrl+q, f2, question_mark)")
    for scope in keymap_scopes():
        owner: dict[str, str] = {}
        for binding, default in scope.items():
            keys = keymap.get(binding, default)
            for key in (normal_key(key.strip()) for key in keys.split(",")):
                if key in owner and owner[key] != binding:
                    culprit = binding if binding in keymap else owner[key]
                    other = owner[key] if culprit == binding else binding
                    raise SettingsError(f"{where(culprit)}: {KEYMAP}.{culprit}: key {key!r} is already bound to "
                                        f"{other}")
                owner[key] = binding
    return {binding: ",".join(key.strip() for key in keys.split(",")) for binding, keys in keymap.items()}


# -- reading the file ---------------------------------------------------------------------------------------------

@dataclass
class Chosen:
    """The outcome: the parsed arguments with config and state applied, and what the TUI needs besides."""

    args: argparse.Namespace
    config: Path | None = None  # the config file read, if one was
    origins: dict[str, str] = field(default_factory=dict)  # dest -> "flag", "state" or "FILE:LINE"
    raw: dict[str, Any] = field(default_factory=dict)  # key -> the value as written (flag or file), for printing
    keymap: dict[str, str] = field(default_factory=dict)
    state: StateFile | None = None  # where the TUI remembers choices (None: remember nothing)
    remembered: dict[str, Any] = field(default_factory=dict)  # the state file's values (collapsed, ...)
    notices: list[str] = field(default_factory=list)  # for the user, once the TUI is up
    hosts: list[HostEntry] = field(default_factory=list)  # the config's [[hosts]], in the file's order


@dataclass(frozen=True)
class HostEntry:
    """One [[hosts]] table: the host (with its own ssh options), its groups, and where it is written."""

    spec: HostSpec
    groups: tuple[str, ...]
    where: str  # "FILE:LINE"

    def table(self) -> dict[str, Any]:
        """The table as --print-config writes it back."""
        out: dict[str, Any] = {"host": self.spec.label}
        if self.groups:
            out["groups"] = list(self.groups)
        if self.spec.ssh_options:
            out["ssh-option"] = list(self.spec.ssh_options)
        return out


def read_config(path: Path, table: Mapping[str, Setting]) \
        -> tuple[dict[str, tuple[Any, Any, str]], dict[str, str], list[HostEntry]]:
    """({key: (value, raw, "file:line")}, keymap, [[hosts]]) from a config file, or SettingsError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path}: cannot read the config file: {getattr(error, 'strerror', None) or error}") \
            from None
    # Imported here, not at start-up: most runs have no config file (3 ms of --once's start-up).
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10 has no tomllib: the `tomli` backport (the same code) is a dependency there only
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(found.group(1)) if found else 1
        key = _key_on_line(text, line)
        naming = f" {key}:" if key else ""
        raise SettingsError(f"{path}:{line}:{naming} not valid TOML: {message.split(' (at ')[0]}") from None
    lines = _KeyLines(text)
    where = lambda *parts: f"{path}:{lines.find(parts)}"  # noqa: E731
    values = {}
    keymap: dict[str, Any] = {}
    hosts: list[HostEntry] = []
    for key, value in data.items():
        if key == HOSTS:
            hosts = read_hosts(value, where)
            continue
        if key == KEYMAP:
            if not isinstance(value, dict):
                raise SettingsError(f"{where(key)}: {key}: expected a table of binding ids, got {_describe(value)}")
            keymap = _flatten(value)
            continue
        setting = table.get(key)
        if setting is None:
            close = _close_matches(key, [*table, KEYMAP, HOSTS])
            hint = f"did you mean {close[0]!r}?" if close else "procwatch --print-config lists the keys"
            raise SettingsError(f"{where(key)}: {key}: unknown setting; {hint}")
        try:
            values[key] = (setting.convert(value), value, where(key))
        except ValueError as error:
            raise SettingsError(f"{where(key)}: {key}: {error}") from None
    checked = check_keymap(keymap, lambda binding: where(KEYMAP, *binding.split("."))) if keymap else {}
    return values, checked, hosts


def read_hosts(value: Any, where: Any) -> list[HostEntry]:
    """The [[hosts]] tables, or SettingsError naming the file, line and key. `where(*parts)` says "file:line"."""
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise SettingsError(f"{where(HOSTS)}: {HOSTS}: expected [[hosts]] tables (host = \"[USER@]HOST[:PORT]\"), "
                            f"got {_describe(value)}")
    entries: list[HostEntry] = []
    first: dict[str, str] = {}  # label -> line
    for index, entry in enumerate(value):
        host = _host_entry(entry, lambda *key, index=index: where(HOSTS, str(index), *key))
        at = where(HOSTS, str(index), "host")
        if host.spec.label in first:
            raise SettingsError(f"{at}: {HOSTS}.host: {host.spec.label!r} is listed twice (first at line "
                                f"{first[host.spec.label]})")
        first[host.spec.label] = at.rsplit(":", 1)[-1]
        entries.append(host)
    return entries


def _host_entry(entry: Mapping[str, Any], at: Any) -> HostEntry:
    """One [[hosts]] table, checked as --host, --ssh-option and --group check theirs."""
    from procwatch.engine.hosts import HostSpec, check_group, check_ssh_option  # only when a file lists hosts

    for key in entry:
        if key not in HOST_KEYS:
            close = _close_matches(key, HOST_KEYS)
            hint = f"did you mean {close[0]!r}?" if close else f"a [[hosts]] table has {', '.join(HOST_KEYS)}"
            raise SettingsError(f"{at(key)}: {HOSTS}.{key}: unknown key; {hint}")
    if "host" not in entry:
        raise SettingsError(f"{at()}: {HOSTS}: a [[hosts]] table without host = \"[USER@]HOST[:PORT]\"")
    for key in ("host", "group"):
        if key in entry and not isinstance(entry[key], str):
            raise SettingsError(f"{at(key)}: {HOSTS}.{key}: expected a string, got {_describe(entry[key])}")
    try:
        host = HostSpec.parse(entry["host"])
    except ValueError as error:
        raise SettingsError(f"{at('host')}: {HOSTS}.host: {error}") from None
    found: dict[str, list[str]] = {}
    for key, check in (("group", check_group), ("groups", check_group), ("ssh-option", check_ssh_option)):
        if key not in entry:
            continue
        item = entry[key]
        items = [item] if isinstance(item, str) and key != "groups" else item
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            wanted = "an array of strings" if key == "groups" else "a string or an array of strings"
            raise SettingsError(f"{at(key)}: {HOSTS}.{key}: expected {wanted}, got {_describe(item)}")
        try:
            found[key] = [check(i) for i in items]
        except ValueError as error:
            raise SettingsError(f"{at(key)}: {HOSTS}.{key}: {error}") from None
    groups = tuple(dict.fromkeys(found.get("group", []) + found.get("groups", [])))
    options = tuple(dict.fromkeys(found.get("ssh-option", [])))
    return HostEntry(replace(host, ssh_options=options), groups, at())


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """[keymap.app] quit = "x" and [keymap] "app.quit" = "x" say the same."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_BARE = r"[A-Za-z0-9_-]+"
_PART = rf'(?:{_BARE}|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")
_HEADER = re.compile(rf"^\s*\[\s*({_PART}(?:\s*\.\s*{_PART})*)\s*\]")
_ARRAY_HEADER = re.compile(rf"^\s*\[\[\s*({_PART}(?:\s*\.\s*{_PART})*)\s*\]\]")


def _parts(dotted: str) -> tuple[str, ...]:
    """The parts of a dotted key; a quoted "app.quit" is split too: in [keymap] it names what app.quit names."""
    quoted = (part.strip().strip("\"'") for part in re.findall(_PART, dotted))
    return tuple(piece for part in quoted for piece in part.split("."))


class _KeyLines:
    """Where a key is written (tomllib gives values, not lines): good enough for the files people write."""

    def __init__(self, text: str) -> None:
        self.found: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        counts: dict[tuple[str, ...], int] = {}
        for number, line in enumerate(text.splitlines(), 1):
            array = _ARRAY_HEADER.match(line)  # [[hosts]]: the Nth table is ("hosts", "N")
            if array:
                name = _parts(array.group(1))
                counts[name] = counts.get(name, -1) + 1
                table = (*name, str(counts[name]))
                self.found.setdefault(name, number)
                self.found.setdefault(table, number)
                continue
            header = _HEADER.match(line)
            if header:
                table = _parts(header.group(1))
                self.found.setdefault(table, number)
                continue
            key = _DOTTED.match(line)
            if key:
                self.found.setdefault(table + _parts(key.group(1)), number)

    def find(self, parts: tuple[str, ...]) -> int:
        for length in range(len(parts), 0, -1):  # the key, else the table that holds it
            if parts[:length] in self.found:
                return self.found[parts[:length]]
        return 1


def _key_on_line(text: str, number: int) -> str | None:
    lines = text.splitlines()
    if 0 < number <= len(lines):
        key = _DOTTED.match(lines[number - 1])
        if key:
            return ".".join(_parts(key.group(1)))
    return None


# -- putting it together ------------------------------------------------------------------------------------------

def _given(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> dict[str, Any]:
    """{dest: value as written} for the flags on the command line (types and defaults switched off a moment)."""
    saved = [(action, action.type, action.default) for action in parser._actions]
    try:
        for action in parser._actions:
            action.type, action.default = None, argparse.SUPPRESS
        return vars(parser.parse_args(argv))
    finally:
        for action, kind, default in saved:
            action.type, action.default = kind, default


def resolve(parser: argparse.ArgumentParser, argv: Sequence[str] | None, args: argparse.Namespace,
            remember: bool) -> Chosen:
    """Apply the config file and (when `remember`: the TUI) the remembered state under the flags."""
    if args.config is not None and args.no_config:
        raise SettingsError("--config and --no-config exclude each other")
    table = settings_of(parser)
    given = _given(parser, argv)  # before set_defaults below: the parser would count those as given
    chosen = Chosen(args=args)
    defaults: dict[str, Any] = {}
    if remember:
        chosen.state = StateFile()
        remembered, notice = chosen.state.load()
        chosen.notices += [notice] if notice else []
        chosen.remembered, bad = _check_remembered(remembered, table)
        if bad:
            chosen.notices.append(chosen.state.set_aside(bad))
            chosen.remembered = {}
        for key, value in chosen.remembered.items():
            if key in table:
                setting = table[key]
                defaults[setting.dest] = setting.convert(value)
                chosen.origins[setting.dest] = "state"
    if not args.no_config:
        path = Path(args.config) if args.config is not None else config_path()
        if args.config is not None or path.exists():
            values, chosen.keymap, chosen.hosts = read_config(path, table)
            chosen.config = path
            for key, (value, raw, where) in values.items():
                defaults[table[key].dest] = value
                chosen.origins[table[key].dest] = where
                chosen.raw[key] = raw
    if defaults:
        parser.set_defaults(**defaults)
        chosen.args = parser.parse_args(argv)
    for setting in table.values():
        if setting.dest in given:
            chosen.origins[setting.dest] = "flag"
            if setting.kind == "list":  # argparse appended the flags to the file's list: the flags replace it
                setattr(chosen.args, setting.dest, [setting._one(item) for item in given[setting.dest]])
            # A flag's text ("2") would print as a string: a number prints as the number the flag gave.
            number = setting.kind == "number"
            chosen.raw[setting.key] = getattr(chosen.args, setting.dest) if number else given[setting.dest]
    return chosen


def _check_remembered(values: Mapping[str, Any], table: Mapping[str, Setting]) -> tuple[dict[str, Any], str | None]:
    """The state file's values, or the reason to set the file aside (a value this procwatch would refuse)."""
    for key, value in values.items():
        if key == "collapsed":
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                return {}, "collapsed: expected a list of command lines"
        elif key in REMEMBERED:
            if key in table:
                try:
                    table[key].convert(value)
                except ValueError as error:
                    return {}, f"{key}: {error}"
        else:
            return {}, f"{key}: not a remembered setting"
    return dict(values), None


# -- printing the effective settings ------------------------------------------------------------------------------

def render(parser: argparse.ArgumentParser, chosen: Chosen) -> str:
    """The effective settings as a commented config file to start from: set values as lines, defaults commented."""
    path = chosen.config or config_path()
    out = [
        f"# procwatch settings: {path}",
        "# procwatch reads this file and never writes it. Precedence: command-line flags > this file > what the TUI",
        f"# remembered ({state_dir() / 'state.json'}: theme, sort, interval, kernel threads, folded subtrees)",
        "# > defaults. Every flag is a key: its name without the dashes (--no-sandbox is sandbox = false).",
        "# A commented line shows the default.",
        "",
    ]
    for setting in settings_of(parser).values():
        action = setting.action
        out.append(f"# {_one_line(action.help)}")
        if setting.key in chosen.raw:
            origin = chosen.origins.get(setting.dest, "")
            note = "  # from the command line" if origin == "flag" else ""
            out.append(f"{setting.key} = {_toml(chosen.raw[setting.key])}{note}")
        elif action.default is None or action.default is argparse.SUPPRESS:
            out.append(f"# {setting.key} = {_toml(action.metavar or '')}")
        else:
            default = action.default
            if setting.kind == "number" and isinstance(default, str) and callable(action.type):
                default = action.type(default)  # "1" is how argparse takes it; the file says 1.0
            out.append(f"# {setting.key} = {_toml(default)}")
        out.append("")
    out += _render_hosts(chosen.hosts)
    out += ["# Keys: binding id = Textual key names, comma-separated (e.g. \"ctrl+q\", \"f1\", \"question_mark\").",
            f"[{KEYMAP}]"]
    for binding, keys in binding_ids().items():
        if binding in chosen.keymap:
            out.append(f"{_toml(binding)} = {_toml(chosen.keymap[binding])}")
        else:
            out.append(f"# {_toml(binding)} = {_toml(keys)}")
    return "\n".join(out) + "\n"


HOSTS_HELP = [
    "# Machines to watch over ssh, one [[hosts]] table each: host = \"[USER@]HOST[:PORT]\" (as --host; an alias of",
    "# your ssh config works), optional group = \"NAME\" or groups = [\"NAME\", ...], optional ssh-option = [...] (ssh",
    "# -o options for this host only). procwatch alone still watches this machine: --group NAME watches the hosts of",
    "# a group (--group all: every host listed), --host NAME the hosts named (with their ssh-option if listed here).",
]


def _render_hosts(hosts: Sequence[HostEntry]) -> list[str]:
    out = list(HOSTS_HELP)
    if not hosts:
        return [*out, "# [[hosts]]", '# host = "web1"', '# groups = ["web", "eu"]', "", "# [[hosts]]",
                '# host = "deploy@db1:2222"', '# group = "db"', '# ssh-option = ["ProxyJump=bastion"]', ""]
    for host in hosts:
        out.append(f"[[{HOSTS}]]")
        out += [f"{key} = {_toml(value)}" for key, value in host.table().items()]
        out.append("")
    return out


def _one_line(text: str | None) -> str:
    return " ".join((text or "").replace("%%", "%").split())


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return _toml_string(str(value))


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes, control characters and DEL escaped, the rest as is."""
    escaped = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for char in text:
        if char in escaped:
            out.append(escaped[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F or 0xD800 <= ord(char) < 0xE000:
            out.append(f"\\u{ord(char) & 0xFFFF:04x}" if ord(char) < 0xD800 else "\\ufffd")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _close_matches(word: str, possibilities: Iterable[str]) -> list[str]:
    """The nearest known name, for a "did you mean" (difflib is imported only when a name is wrong)."""
    import difflib

    return difflib.get_close_matches(word, possibilities, n=1)
