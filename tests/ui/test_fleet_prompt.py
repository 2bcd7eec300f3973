"""The issue's promise, checked on a real terminal (a pty) against a real sshd: when ssh needs a person (here a
passphrase-protected key, or a second key after a first accepted one: a second factor), it asks once, on the
terminal, before the TUI takes it; every connection after that is a channel of that one master connection.

A server-side password or keyboard-interactive prompt cannot be made here without changing the machine's own
authentication: root has no password (`*` in /etc/shadow), sshd without PAM offers no keyboard-interactive device
on Linux, and Debian's OpenSSH 9.2 has no PAMServiceName to point a test server at its own PAM stack. The prompt
path in procwatch is the same whoever asks (ssh's tty or SSH_ASKPASS), so a passphrase stands in for it."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest
from support.polling import DEADLINE, wait_until
from support.procs import REPO

from procwatch.engine import procfs

ENTER_ALT_SCREEN = b"\x1b[?1049h"
PASSPHRASE = "correct horse"


class Terminal:
    """procwatch on a pty of its own (its controlling terminal: ssh prompts on /dev/tty there)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.chdir(REPO)
                os.execve(sys.executable, [sys.executable, "-m", "procwatch", *args], env)
            finally:
                os._exit(127)
        self.output = bytearray()
        self.status: int | None = None

    def wait_for(self, needle: bytes, start: int = 0, seconds: float = DEADLINE * 3) -> int:
        """The offset of `needle` in what procwatch wrote, from `start`."""
        deadline = time.monotonic() + seconds
        while (found := self.output.find(needle, start)) < 0:
            assert time.monotonic() < deadline, f"{needle!r} never appeared: {bytes(self.output[-2000:])!r}"
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    pass
        return found

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait_exit(self) -> int:
        deadline = time.monotonic() + DEADLINE * 2
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                return status
        raise AssertionError("procwatch did not exit")

    def close(self) -> None:
        if self.status is None:  # our own child (pty.fork), not yet reaped
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def ssh_of(config: str) -> list[int]:
    """ssh clients (masters included: they leave procwatch's tree when they go to the background) using `config`."""
    found = []
    for pid in procfs.pids():
        try:
            argv = procfs.read(f"/proc/{pid}/cmdline").split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"ssh") and config.encode() in argv:
            found.append(pid)
    return found


def protect(key, passphrase: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", passphrase, "-f", str(key)], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


@pytest.mark.parametrize("how", ["terminal", "askpass", "second factor"])
def test_ssh_asks_once_on_the_terminal_before_the_tui(sshd_hosts, tmp_path, how):
    if how == "second factor":  # a first key accepted, then a second one needed: asked for after partial success
        server = sshd_hosts.start("remote-a", second_key=True)
        protect(sshd_hosts.second_key, PASSPHRASE)
    else:
        server = sshd_hosts.start("remote-a")
        protect(sshd_hosts.client_key, PASSPHRASE)
    config = str(sshd_hosts.config)
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="140", LINES="40", TEXTUAL_ANIMATIONS="none")
    log = tmp_path / "asked"
    if how == "askpass":
        askpass = tmp_path / "askpass"
        # Records each question and whether the terminal is still cooked (the TUI puts it in raw mode: -icanon).
        askpass.write_text(f"#!/bin/sh\nprintf '%s|%s\\n' \"$1\" \"$(stty -a < /dev/tty | grep -o -- '-*icanon')\" "
                           f">> {log}\necho '{PASSPHRASE}'\n")
        askpass.chmod(0o755)
        env |= {"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
    t = Terminal(["--host", "remote-a", "--ssh-config", config, "--interval", "0.5", "--no-sandbox"], env)
    try:
        notice = t.wait_for(b"ssh needs an answer")
        if how == "askpass":
            wait_until(lambda: log.exists() and log.read_text(), what="the askpass program asked")
        else:
            prompt = t.wait_for(b"Enter passphrase for key", notice)
            assert ENTER_ALT_SCREEN not in t.output, "the TUI started before ssh asked"
            time.sleep(0.2)  # ssh turns echo off, then reads: typing before that would echo the passphrase
            t.send(PASSPHRASE.encode() + b"\r")
        tui = t.wait_for(ENTER_ALT_SCREEN, notice)
        # The host's channel runs through the master, in BatchMode (nobody to ask): connected (the line under the
        # fleet table, for the highlighted host), not "disconnected: authentication failed".
        t.wait_for(b"remote-a: connected", tui)
        assert len(server.session_pids()) > 0
        t.send(b"q")
        status = t.wait_exit()
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if how == "askpass":
            asked = log.read_text().splitlines()
            assert len(asked) == 1, asked
            question, mode = asked[0].split("|")
            assert question.startswith("Enter passphrase for key") and mode == "icanon", asked  # cooked: no TUI yet
        else:
            assert t.output.count(b"Enter passphrase for key") == 1 and prompt < tui
        wait_until(lambda: not ssh_of(config), what="the master connection told to exit")
    finally:
        t.close()
