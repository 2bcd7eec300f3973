"""`--host` through a real OpenSSH server on loopback (tests/support/sshd.py): the "remote" is this machine, so what
procwatch reads through ssh must agree with what it reads locally, for processes the test started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from support.polling import DEADLINE, wait_until
from support.procs import REPO

from procwatch.engine import procfs
from procwatch.engine.procfs import SignalRefused
from procwatch.engine.remote import HostSpec, RemoteCollector, RemoteError, SshOptions

pytestmark = pytest.mark.usefixtures("no_leftover_children")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "procwatch", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=DEADLINE * 4, errors="surrogateescape")


def once_json(*args: str) -> list[dict]:
    result = run("--once", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def agents_of(server) -> list[int]:
    """The agents (remote python) running under this server's sessions."""
    found = []
    for pid in server.session_pids():
        try:
            cmdline = procfs.read(f"/proc/{pid}/cmdline")
            if b"zlib.decompress" in cmdline and not cmdline.startswith(b"sh\0"):  # python3 -c, not sh -c
                found.append(pid)
        except OSError:
            pass
    return found


def test_once_json_through_ssh_agrees_with_local(sshd_hosts, children):
    sshd_hosts.start("remote-a")
    zombie = children.zombie(3)
    sleeper = children.sleeper()
    mine = {os.getpid(), zombie.pid, sleeper.pid}
    remote = once_json("--host", "remote-a", "--ssh-config", str(sshd_hosts.config))
    local = once_json()
    assert {o["host"] for o in remote} == {"remote-a"}
    remote_mine = {o["pid"]: o for o in remote if o["pid"] in mine}
    local_mine = {o["pid"]: o for o in local if o["pid"] in mine}
    assert set(remote_mine) == mine
    fields = ("ppid", "stat", "user", "name", "argv", "zombie", "exit_status", "unreaped_children", "session",
              "pgrp", "started")
    for pid in mine:
        assert {k: remote_mine[pid][k] for k in fields} == {k: local_mine[pid][k] for k in fields}, pid
    assert remote_mine[zombie.pid]["stat"] == "Z" and remote_mine[zombie.pid]["exit_status"] == "exit 3"
    assert remote_mine[os.getpid()]["unreaped_children"] == 1


def test_two_servers_are_two_hosts_in_one_array_and_text(sshd_hosts, children):
    sshd_hosts.start("remote-a")
    sshd_hosts.start("remote-b")
    sleeper = children.sleeper()
    config = str(sshd_hosts.config)
    objects = once_json("--host", "remote-a", "--host", "remote-b", "--ssh-config", config)
    for host in ("remote-a", "remote-b"):
        assert any(o["host"] == host and o["pid"] == sleeper.pid for o in objects)
    text = run("--once", "--host", "remote-a", "--host", "remote-b", "--ssh-config", config,
               "--filter", str(sleeper.pid))
    assert text.returncode == 0, text.stderr
    assert [line for line in text.stdout.splitlines() if line.startswith("host ")] == ["host remote-a",
                                                                                        "host remote-b"]
    assert text.stdout.count(f"{sleeper.pid} ") == 2


def test_remote_without_python_falls_back_to_ps_and_says_what_is_lost(sshd_hosts, children, tmp_path):
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("sh", "ps", "sleep"):
        (bare / tool).symlink_to(subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                                                text=True).stdout.strip())
    sshd_hosts.start("nopython", path=str(bare))
    zombie = children.zombie(3)
    result = run("--once", "--json", "--host", "nopython", "--ssh-config", str(sshd_hosts.config))
    assert result.returncode == 0, result.stderr
    assert "no python3 there: read with ps; lost: zombies' exit status" in result.stderr
    objects = {o["pid"]: o for o in json.loads(result.stdout)}
    assert objects[zombie.pid]["stat"] == "Z" and objects[zombie.pid]["ppid"] == os.getpid()
    assert objects[zombie.pid]["exit_status"] is None  # what ps cannot give
    assert objects[os.getpid()]["unreaped_children"] == 1


def test_killing_ssh_mid_stream_disconnects_with_a_reason_and_ends_the_agent(sshd_hosts):
    server = sshd_hosts.start("remote-a")
    options = SshOptions(config=str(sshd_hosts.config))
    with RemoteCollector(HostSpec.parse("remote-a"), interval=0.25, options=options) as collector:
        assert len(collector.sweep()) > 10
        assert wait_until(lambda: agents_of(server), what="the remote agent running")
        wait_until(lambda: collector.snapshots_received >= 3, what="a few deltas")
        ssh = collector._proc
        assert ssh is not None
        os.kill(ssh.pid, signal.SIGKILL)  # our own child
        wait_until(lambda: collector.status.state == "disconnected", what="disconnected")
        assert collector.status.reason == "ssh ended by SIGKILL"
        assert len(collector.sweep()) > 10  # the last snapshot stays readable
    wait_until(lambda: not agents_of(server), what="the remote agent ended with its connection")


def test_signal_through_ssh_checks_identity_on_the_remote(sshd_hosts, children):
    sshd_hosts.start("remote-a")
    sleeper = children.sleeper()
    options = SshOptions(config=str(sshd_hosts.config))
    with RemoteCollector(HostSpec.parse("remote-a"), options=options) as collector:
        record = collector.sweep().get(sleeper.pid)
        assert record is not None
        with pytest.raises(SignalRefused) as refused:
            collector.signal_process((sleeper.pid, record.start_ticks + 1), signal.SIGTERM)  # another start time
        assert refused.value.reason == "reused"
        assert sleeper.poll() is None
        collector.signal_process(record.identity, signal.SIGTERM)
        assert sleeper.wait(timeout=DEADLINE) == -signal.SIGTERM


@pytest.mark.parametrize(("break_it", "said"), [
    ("known_hosts", "the host key is unknown or has changed"),
    ("key", "authentication failed (permission denied)"),
])
def test_ssh_failures_are_one_line_and_non_zero(sshd_hosts, break_it, said):
    sshd_hosts.start("remote-a")
    if break_it == "known_hosts":
        sshd_hosts.known_hosts.write_text("")
    else:
        sshd_hosts.client_key.unlink()
        (sshd_hosts.root / "other").mkdir()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(sshd_hosts.client_key)], check=True)
    result = run("--once", "--host", "remote-a", "--ssh-config", str(sshd_hosts.config))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("procwatch: remote-a: ") and said in lines[0], result.stderr


def test_a_closed_port_is_one_line(sshd_hosts):
    server = sshd_hosts.start("remote-a")
    port = server.port
    sshd_hosts.stop()
    sshd_hosts.servers.clear()
    collector = RemoteCollector(HostSpec.parse(f"127.0.0.1:{port}"), options=SshOptions(config="/dev/null"))
    with pytest.raises(RemoteError, match="connection refused"):
        collector.sweep()
    collector.close()


def ssh_masters_of(directory: str) -> list[int]:
    """ssh master processes whose control sockets live in `directory`."""
    found = []
    for pid in procfs.pids():
        try:
            cmdline = procfs.read(f"/proc/{pid}/cmdline")
        except OSError:
            continue
        if b"ControlMaster=yes" in cmdline and directory.encode() in cmdline:
            found.append(pid)
    return found


def connections_of(server) -> list[int]:
    """One `sshd: USER@notty` process per ssh connection the server accepted."""
    return [pid for pid in server.session_pids()
            if procfs.read(f"/proc/{pid}/cmdline").startswith(b"sshd: ") and b"@notty" in
            procfs.read(f"/proc/{pid}/cmdline")]


def test_one_master_connection_per_host_carries_every_channel(sshd_hosts):
    from procwatch.view.fleet import FleetMonitor

    server = sshd_hosts.start("remote-a")
    hosts = [HostSpec.parse("remote-a"), HostSpec.parse("remote-a")]  # two channels to one host
    monitor = FleetMonitor(hosts, SshOptions(config=str(sshd_hosts.config)), interval=0.5)
    monitor.open_masters(interactive=False)
    assert monitor.masters is not None
    directory = monitor.masters.directory
    try:
        assert len(ssh_masters_of(directory)) == 1
        monitor.start()
        wait_until(lambda: all(s.processes for s in (monitor.refresh() or monitor.summaries())),
                   what="both channels delivering")
        assert len(agents_of(server)) == 2
        assert len(connections_of(server)) == 1  # one TCP connection, two channels
    finally:
        monitor.close()
    wait_until(lambda: not ssh_masters_of(directory), what="the master told to exit")
    assert not os.path.exists(directory)
    wait_until(lambda: not agents_of(server), what="the agents ended")


def test_a_host_that_needs_a_person_is_not_asked_without_a_terminal(sshd_hosts, capfd):
    from procwatch.view.fleet import FleetMonitor

    sshd_hosts.start("remote-a")
    sshd_hosts.known_hosts.write_text("")  # the host key is unknown: a person would have to accept it
    monitor = FleetMonitor([HostSpec.parse("remote-a")], SshOptions(config=str(sshd_hosts.config)))
    monitor.open_masters(interactive=False)
    try:
        assert monitor.masters is not None and monitor.masters.opened == []
        assert capfd.readouterr().err == ""
    finally:
        monitor.close()
