"""What names a remote host and how ssh is run: `HostSpec` (`[user@]HOST[:PORT]`, from `--host` or a `[[hosts]]`
table of the config file) and `SshOptions`. Standard library only, and light: the config file is checked with the
same parser as the flag without loading the ssh code (procwatch.engine.remote)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HOST_RE = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?:\[(?P<v6>[0-9A-Fa-f:.%\w]+)\]|(?P<host>[^:@\s\[\]]+))"
                      r"(?::(?P<port>\d{1,5}))?$")
_OPTION_RE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+)(?P<value>\S.*)$")
# Options procwatch sets itself, that would break it if a user's value won (ssh keeps the first value it is given):
# the master connection and its channels, prompts only before the TUI, the remote command and its stdin.
OWN_OPTIONS = frozenset({"batchmode", "controlmaster", "controlpath", "controlpersist", "remotecommand",
                         "sessiontype", "stdinnull", "forkafterauthentication", "requesttty"})
_GROUP_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class HostSpec:
    """[user@]HOST[:PORT] as given on the command line or in the config; `label` is what the user typed (shown, and
    in JSON). `ssh_options`: `-o` options for this host only (a [[hosts]] table's `ssh-option`)."""

    host: str
    user: str | None = None
    port: int | None = None
    label: str = ""
    ssh_options: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> HostSpec:
        """Raises ValueError with a one-line reason."""
        match = _HOST_RE.match(text)
        if not match or not text.isprintable():
            raise ValueError(f"{text!r} is not [user@]HOST[:PORT]")
        host = match["v6"] or match["host"]
        user = match["user"]
        if host.startswith("-") or (user or "").startswith("-"):
            raise ValueError(f"{text!r}: a host or user may not start with '-'")
        port = int(match["port"]) if match["port"] else None
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"{text!r}: port {port} is not from 1 to 65535")
        return cls(host=host, user=user, port=port, label=text)


def check_ssh_option(text: str) -> str:
    """An ssh `-o` option as `Key=Value` or `Key Value`, or ValueError with a one-line reason."""
    match = _OPTION_RE.match(text.strip())
    if not match or not text.isprintable():
        raise ValueError(f"{text!r} is not an ssh option (Key=Value, e.g. ProxyJump=bastion)")
    if match["key"].lower() in OWN_OPTIONS:
        raise ValueError(f"{text!r}: procwatch sets {match['key']} itself")
    return text.strip()


def check_group(text: str) -> str:
    if not _GROUP_RE.match(text):
        raise ValueError(f"{text!r} is not a group name (letters, digits, '.', '_', '-')")
    return text


@dataclass(frozen=True)
class SshOptions:
    """How ssh is run: `config` is handed over as `-F FILE`; `extra` are more `-o` options (`--ssh-option`, the
    config's `ssh-option`), after a host's own (ssh keeps the first value it is given for an option)."""

    program: str = "ssh"
    config: str | None = None
    connect_timeout: float = 10.0
    batch_mode: bool = True
    extra: tuple[str, ...] = ()
