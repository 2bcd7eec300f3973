"""A real OpenSSH server on loopback, for the fleet tests: the `sshd_hosts` fixture starts Debian's /usr/sbin/sshd on a
free 127.0.0.1 port with a throwaway host key and user key in a temp dir (no password auth), writes a private ssh
config (-F) and known_hosts naming each server as a host alias, and stops every server and every session process
at the end. It skips, saying why, only where sshd cannot be run (CI installs openssh-server, see .ci/run)."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from procwatch.engine import procfs
from procwatch.sandbox.linux import libc, set_death_signal
from support.polling import DEADLINE, wait_until

SSHD = "/usr/sbin/sshd"


@dataclass
class SshServer:
    alias: str
    port: int
    proc: subprocess.Popen
    root: Path

    def session_pids(self) -> list[int]:
        """Every process this server started (its sessions and what they run)."""
        return procfs.descendants(self.proc.pid) if self.proc.poll() is None else []


@dataclass
class SshHosts:
    """Servers started for one test, and the one client config naming them all (hand it to ssh as -F)."""

    root: Path
    servers: list[SshServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.user = getpass.getuser()
        self.client_key = self.root / "user_key"
        self.second_key = self.root / "second_key"  # made by start(second_key=True)
        _keygen(self.client_key)
        (self.root / "authorized_keys").write_text((self.root / "user_key.pub").read_text())
        self.known_hosts = self.root / "known_hosts"
        self.known_hosts.write_text("")
        self.config = self.root / "ssh_config"
        self.config.write_text("")

    def start(self, alias: str, path: str | None = None, second_key: bool = False) -> SshServer:
        """A server reachable as `alias` through self.config. `path`: the PATH its sessions get (hide python3).
        `second_key`: the server wants two keys, one after the other (AuthenticationMethods publickey,publickey,
        a second factor); the client offers self.client_key, then self.second_key."""
        directory = self.root / alias
        directory.mkdir()
        if second_key and not self.second_key.exists():
            _keygen(self.second_key)
            with open(self.root / "authorized_keys", "a") as keys:
                keys.write((self.root / "second_key.pub").read_text())
        host_key = directory / "host_key"
        _keygen(host_key)
        for _ in range(5):  # a free port can be taken by someone else before sshd binds it: pick another
            port = _free_port()
            config = directory / "sshd_config"
            config.write_text(_server_config(self, directory, port, path) + (
                "AuthenticationMethods publickey,publickey\n" if second_key else ""))
            log = directory / "sshd.log"
            with open(log, "wb") as log_file:
                proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                        stdout=log_file, stderr=subprocess.STDOUT,
                                        preexec_fn=_die_with_us(os.getpid()))
            if _wait_listening(port, proc):
                break
            _stop(proc)
        else:
            pytest.skip(f"sshd cannot be run here: {log.read_text(errors='replace').strip()[-300:]}")
        server = SshServer(alias, port, proc, directory)
        self.servers.append(server)
        with open(self.known_hosts, "a") as known:
            known.write(f"[127.0.0.1]:{port} {(directory / 'host_key.pub').read_text()}")
        with open(self.config, "a") as client:
            client.write(
                f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {self.user}\n"
                f"  IdentityFile {self.client_key}\n" + (f"  IdentityFile {self.second_key}\n" if second_key else "") +
                "  IdentitiesOnly yes\n  IdentityAgent none\n"
                f"  UserKnownHostsFile {self.known_hosts}\n  GlobalKnownHostsFile /dev/null\n"
                f"  StrictHostKeyChecking yes\n  PasswordAuthentication no\n  LogLevel ERROR\n\n")
        return server

    def stop(self) -> None:
        for server in self.servers:
            left = server.session_pids()
            _stop(server.proc)
            for pid in left:  # sessions of our own server: end what a failing test may have left
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for server in self.servers:
            wait_until(lambda s=server: not any(procfs.identity_of(p) for p in s.session_pids()),
                       what="sshd sessions gone")


def _die_with_us(parent: int):
    """The server gets SIGTERM if the test process dies without stopping it (SIGKILL, a crash)."""
    libc()  # loaded before the fork: no dlopen in the child of a threaded process

    def setup() -> None:
        set_death_signal(signal.SIGTERM, parent)
    return setup


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "procwatch-test", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_config(hosts: SshHosts, directory: Path, port: int, path: str | None) -> str:
    lines = [
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {directory / 'host_key'}", f"PidFile {directory}/sshd.pid",
        f"AuthorizedKeysFile {hosts.root / 'authorized_keys'}", "PubkeyAuthentication yes",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
        "PermitRootLogin prohibit-password", f"AllowUsers {hosts.user}", "LogLevel ERROR", "MaxStartups 50",
        "MaxSessions 50",
    ]
    if path is not None:  # set after the login shell's rc files ran (they may add pyenv, ~/.local/bin...)
        lines.append(f'ForceCommand env PATH={path} /bin/sh -c "$SSH_ORIGINAL_COMMAND"')
    return "\n".join(lines) + "\n"


def _wait_listening(port: int, proc: subprocess.Popen) -> bool:
    """True once the server greets on its port; False if it exited (e.g. the port was taken)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            if sock.recv(4).startswith(b"SSH-"):
                return True
        time.sleep(0.02)
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cannot_run() -> str | None:
    if not os.path.exists(SSHD):
        return f"{SSHD} is missing (apt-get install -y openssh-server)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install -y openssh-client)"
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        try:
            os.makedirs("/run/sshd", mode=0o755)  # sshd's privilege separation directory (the package's own)
        except OSError as error:
            return f"cannot create /run/sshd: {error}"
    return None


@pytest.fixture
def sshd_hosts(tmp_path_factory) -> Iterator[SshHosts]:
    """Start servers with `sshd_hosts.start("alias")`; all are stopped, with their sessions, at the end."""
    reason = _cannot_run()
    if reason is not None:
        pytest.skip(reason)
    hosts = SshHosts(tmp_path_factory.mktemp("sshd"))
    try:
        yield hosts
    finally:
        hosts.stop()
