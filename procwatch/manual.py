"""Shell completion (bash, zsh) and the man page, written from the one argument parser, printed by a flag.

Made here rather than by shtab or argparse-manpage: procwatch has flags only (no subcommands, no positional
arguments), so a completion is a list of flags plus a few value lists, and a man page is the flags' help in roff;
about a hundred lines, no dependency to install, and the output is ours to test."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

from procwatch import __version__

SHELLS = ("bash", "zsh")
# How a value is completed, by the flag's metavar: files, user names, else nothing (a number, a text).
_BASH_VALUE = {"PATH": "compgen -f -- \"$cur\"", "NAME[,NAME]": "compgen -u -- \"$cur\""}
_ZSH_VALUE = {"PATH": "_files", "NAME[,NAME]": "_users"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("shell integration")
    group.add_argument("--print-completion", metavar="SHELL", choices=SHELLS,
                       help=f"print a completion script for SHELL ({', '.join(SHELLS)}) and exit; e.g. "
                       "procwatch --print-completion bash > ~/.local/share/bash-completion/completions/procwatch")
    group.add_argument("--print-man", action="store_true", help="print the man page (roff) and exit; e.g. "
                       "procwatch --print-man | man -l -")


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.print_completion or args.print_man)


def generate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    if args.print_man:
        return man_page(parser)
    return bash_completion(parser) if args.print_completion == "bash" else zsh_completion(parser)


def _options(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if action.option_strings and action.help is not argparse.SUPPRESS:
            yield action


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


# -- bash -----------------------------------------------------------------------------------------------------

def bash_completion(parser: argparse.ArgumentParser) -> str:
    flags = " ".join(option for action in _options(parser) for option in action.option_strings)
    cases = []
    for action in _options(parser):
        if not _takes_value(action):
            continue
        names = "|".join(action.option_strings)
        if action.choices is not None:
            words = " ".join(map(str, action.choices))
            cases.append(f'        {names}) COMPREPLY=($(compgen -W "{words}" -- "$cur")); return ;;')
        elif action.metavar in _BASH_VALUE:
            cases.append(f"        {names}) COMPREPLY=($({_BASH_VALUE[str(action.metavar)]})); return ;;")
        else:
            cases.append(f"        {names}) COMPREPLY=(); return ;;  # a value of the user's own")
    body = "\n".join(cases)
    return f"""# bash completion for procwatch {__version__}, made from its argument parser by
# procwatch --print-completion bash (save it as ~/.local/share/bash-completion/completions/procwatch)
_procwatch() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    case "$prev" in
{body}
    esac
    COMPREPLY=($(compgen -W "{flags}" -- "$cur"))
}}
complete -F _procwatch procwatch
"""


# -- zsh ------------------------------------------------------------------------------------------------------

def _zsh_quote(text: str) -> str:
    """Text inside '...[text]...' of an _arguments spec: brackets and colons escaped, single quotes closed."""
    text = re.sub(r"([\[\]:\\])", r"\\\1", " ".join(text.split()))
    return text.replace("'", "'\\''")


def zsh_completion(parser: argparse.ArgumentParser) -> str:
    specs = []
    for action in _options(parser):
        help_text = _zsh_quote((action.help or "").replace("%%", "%"))
        for option in action.option_strings:
            if not _takes_value(action):
                specs.append(f"'{option}[{help_text}]'")
                continue
            metavar = str(action.metavar or action.dest.upper())
            if action.choices is not None:
                what = "(" + " ".join(map(str, action.choices)) + ")"
            else:
                what = _ZSH_VALUE.get(metavar, " ")
            specs.append(f"'{option}=[{help_text}]:{_zsh_quote(metavar)}:{what}'")
    lines = " \\\n    ".join(specs)
    return f"""#compdef procwatch
# zsh completion for procwatch {__version__}, made from its argument parser by
# procwatch --print-completion zsh (save it as _procwatch in a folder of your $fpath)
_arguments -s \\
    {lines}
"""


# -- man page -------------------------------------------------------------------------------------------------

def _roff(text: str) -> str:
    text = " ".join(text.replace("%%", "%").split()).replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def _option_head(action: argparse.Action) -> str:
    names = ", ".join(f"\\fB{_roff(option)}\\fR" for option in action.option_strings)
    if _takes_value(action):
        names += f" \\fI{_roff(str(action.metavar or action.dest.upper()))}\\fR"
    return names


def man_page(parser: argparse.ArgumentParser) -> str:
    out = [f'.TH PROCWATCH 1 "" "procwatch {__version__}" "User Commands"', ".SH NAME",
           f"procwatch \\- {_roff(parser.description or '')}", ".SH SYNOPSIS", ".B procwatch"]
    out += [f"[{_option_head(action)}]" for action in _options(parser)]
    out += [".SH DESCRIPTION",
            _roff("Without --once, procwatch opens a terminal UI: the process tree, refreshed, with the STAT code of "
                  "each process as ps prints it, explained; zombies and the parents that do not reap them, orphans "
                  "and who adopted them. Press ? for the keys. With --once it prints the tree (or JSON) and exits."),
            ".SH OPTIONS"]
    for action in _options(parser):
        out += [".TP", _option_head(action), _roff(action.help or "")]
    out += [
        ".SH FILES", ".TP", r"\fI$XDG_CONFIG_HOME/procwatch/config.toml\fR (default \fI~/.config/procwatch/config.toml\fR)",
        _roff("Settings. Every flag is a key, named as the flag without its dashes (interval = 2, sandbox = false); "
              "a [keymap] table moves keys by binding id. procwatch --print-config prints a commented file to start "
              "from. procwatch never writes this file. A bad file is refused in one line naming the file, the line "
              "and the key (exit status 2)."),
        ".TP", r"\fI$XDG_STATE_HOME/procwatch/state.json\fR (default \fI~/.local/state/procwatch/state.json\fR)",
        _roff("What the TUI remembers of the choices made at run time: theme, sort, interval, kernel threads, folded "
              "subtrees (by command line). A damaged file is set aside with a notice."),
        ".SH PRECEDENCE", _roff("Command-line flags, then the config file, then the remembered state (TUI only), "
                                "then the defaults."),
        ".SH EXIT STATUS", _roff("0 on success; 2 for a bad flag or a bad config file; 128+n when ended by signal n."),
        ".SH SEE ALSO", r"\fBps\fR(1), \fBpstree\fR(1), \fBhtop\fR(1), \fBproc\fR(5)",
    ]
    return "\n".join(out) + "\n"
