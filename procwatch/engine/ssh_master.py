"""One ssh master connection per host, opened before the TUI starts, so that a password, a passphrase or a 2FA prompt
happens on the terminal while it is still a terminal; every connection of the TUI then runs as a channel of that
master (ControlPath), in BatchMode. Standard library only.

First every master is tried at once in BatchMode (a host with keys or an agent asks nothing); then, one host at a
time, those whose authentication (or unknown host key) needs a person are tried again with the terminal. Hosts
that cannot be reached are left to the TUI, which shows why and retries. A master lives in the background while
procwatch uses it, is told to exit when procwatch closes, and exits by itself 30 s after its last channel closed
(ControlPersist), so even a procwatch killed with SIGKILL leaves no master behind for long.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from procwatch.engine import words
from procwatch.engine.remote import HostSpec, SshOptions, ssh_argv, ssh_failure

PERSIST_SECONDS = 30
NEEDS_A_PERSON = ("permission denied", "host key verification failed", "too many authentication failures")


class SshMasters:
    def __init__(self, options: SshOptions) -> None:
        self.options = options
        self.directory = tempfile.mkdtemp(prefix="procwatch-ssh-")  # mode 0700: the sockets are ours only
        self.control_path = os.path.join(self.directory, "%C")  # a hash of host, port and user: short enough
        self.opened: list[HostSpec] = []

    def _argv(self, host: HostSpec, batch: bool) -> list[str]:
        options = replace(self.options, batch_mode=batch, extra=(
            *self.options.extra, "ControlMaster=yes", f"ControlPath={self.control_path}",
            f"ControlPersist={PERSIST_SECONDS}"))
        argv = ssh_argv(host, options, "")[:-1]  # no remote command: -N
        return [argv[0], "-N", *argv[1:]]

    def _open(self, host: HostSpec, batch: bool) -> str | None:
        """None once the master runs in the background, else why not (ssh's stderr, in one line)."""
        # Prompts go to /dev/tty; stderr to a file, not a pipe: the master keeps it open in the background.
        kwargs: dict = {"stdin": subprocess.DEVNULL, "start_new_session": True} if batch else {}
        with tempfile.TemporaryFile() as stderr:
            try:
                # ControlPersist puts the master in the background once authenticated: run returns then.
                # A person may take a while; a batch login that takes long is stuck (it ran as a plain
                # connection because another master holds the socket, e.g. two aliases of one host): ended.
                timeout = self.options.connect_timeout + (300 if not batch else 20)
                result = subprocess.run(self._argv(host, batch), stdout=subprocess.DEVNULL, stderr=stderr,
                                        timeout=timeout, **kwargs)
            except (OSError, subprocess.TimeoutExpired) as error:
                return str(error)
            if result.returncode == 0:
                self.opened.append(host)
                return None
            stderr.seek(0)
            return stderr.read(4096).decode("utf-8", "replace")

    def open_all(self, hosts: Sequence[HostSpec], interactive: bool) -> None:
        hosts = list({(h.host, h.user, h.port): h for h in hosts}.values())  # one master per destination
        with ThreadPoolExecutor(max_workers=min(16, max(1, len(hosts)))) as pool:
            failures = list(pool.map(lambda host: (host, self._open(host, batch=True)), hosts))
        for host, stderr in failures:
            if stderr is None or not interactive or not any(n in stderr.lower() for n in NEEDS_A_PERSON):
                continue
            print(words.master_prompt(host.label), file=sys.stderr, flush=True)
            stderr = self._open(host, batch=False)
            if stderr is not None:
                print(f"procwatch: {words.host_failed(host.label, ssh_failure(255, stderr))}", file=sys.stderr)

    def options_for_channels(self) -> SshOptions:
        """How the TUI's connections run: through a master where there is one, in BatchMode."""
        return replace(self.options, batch_mode=True,
                       extra=(*self.options.extra, "ControlMaster=no", f"ControlPath={self.control_path}"))

    def close(self) -> None:
        for host in self.opened:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                options = replace(self.options, extra=(*self.options.extra, f"ControlPath={self.control_path}"))
                argv = ssh_argv(host, options, "")[:-1]
                subprocess.run([argv[0], "-O", "exit", *argv[1:]], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        self.opened.clear()
        shutil.rmtree(self.directory, ignore_errors=True)
