"""`--watch` and `--check` across hosts, through real OpenSSH servers on loopback (tests/support/sshd.py): two
servers are two hosts (both are this machine, so each sees what the test does, and the sums are known). One JSON
Lines stream merged from both, each line naming its host, through a dropped connection and its reconnection; a
monitoring check summing over hosts and naming them, UNKNOWN when a host cannot be reached."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid

import pytest
from support.polling import DEADLINE, wait_until
from support.procs import PY_NAMED_ZOMBIE_PARENT, REPO, read_line, state_of
from support.sshd import _free_port
from test_fleet_ssh import agents_of

from procwatch.engine import procfs
from procwatch.engine.remote import HostSpec, RemoteCollector, SshOptions

pytestmark = pytest.mark.usefixtures("no_leftover_children")



def tell(proc: subprocess.Popen, line: str = "go") -> None:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def watch(children, sshd_hosts, *args: str) -> subprocess.Popen:
    return children.start([sys.executable, "-m", "procwatch", "--watch", "--interval", "0.25", "--ssh-config",
                           str(sshd_hosts.config), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          bufsize=0, cwd=REPO)


def drop_connections(server) -> None:
    """End every session of our own test server: the client's ssh sees its connection closed."""
    for pid in server.session_pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_watch_json_merges_two_hosts_through_a_drop_and_a_reconnection(sshd_hosts, children):
    a, b = sshd_hosts.start("remote-a"), sshd_hosts.start("remote-b")
    name = "pwh-" + uuid.uuid4().hex[:8]
    streamer = watch(children, sshd_hosts, "--json", "--snapshots", "--host", "remote-a", "--host", "remote-b",
                     "--filter", name)
    objects: list[dict] = []

    def until(wanted) -> dict:
        """Read objects until one satisfies `wanted`; every object read is kept."""
        while True:
            objects.append(json.loads(read_line(streamer, timeout=DEADLINE * 2)))
            if wanted(objects[-1]):
                return objects[-1]

    def seen(event: str, host: str) -> bool:
        return any(o["event"] == event and o["host"] == host for o in objects)

    until(lambda o: seen("snapshot", "remote-a") and seen("snapshot", "remote-b"))  # both swept once
    assert seen("connected", "remote-a") and seen("connected", "remote-b")
    parent = children.start([sys.executable, "-c", PY_NAMED_ZOMBIE_PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, exits_on_eof=True)
    tell(parent, name)
    child = int(read_line(parent))
    wait_until(lambda: state_of(child) == "Z", what="the child to be a zombie")
    until(lambda o: seen("zombie", "remote-a") and seen("zombie", "remote-b"))
    for host in ("remote-a", "remote-b"):
        zombie = next(o for o in objects if o["event"] == "zombie" and o["host"] == host)
        assert (zombie["pid"], zombie["parent"], zombie["exit_code"], zombie["name"]) == (child, parent.pid, 3 << 8,
                                                                                          name)

    drop_connections(b)
    dropped = until(lambda o: o["event"] == "disconnected")
    assert dropped["host"] == "remote-b" and dropped["reason"] and dropped["retry_in"] is not None
    snapshots_before = sum(o["event"] == "snapshot" and o["host"] == "remote-a" for o in objects)
    back = until(lambda o: o["event"] == "connected" and o["host"] == "remote-b")
    assert back["mode"] == "python"
    # remote-a went on meanwhile: a slow or dropped host stalls nobody
    until(lambda o: sum(x["event"] == "snapshot" and x["host"] == "remote-a" for x in objects) > snapshots_before)

    tell(parent)
    assert read_line(parent) == "reaped"
    until(lambda o: seen("reaped", "remote-a") and seen("reaped", "remote-b"))  # b: its lineage outlived the drop
    for host in ("remote-a", "remote-b"):
        reaped = next(o for o in objects if o["event"] == "reaped" and o["host"] == host)
        assert (reaped["pid"], reaped["exit_code"]) == (child, 3 << 8)
    events = [o for o in objects if o["event"] not in ("snapshot", "connected", "disconnected")]
    # the filter keeps only our child's events, on every host (and this procwatch's own: its command line has the
    # name, and its threads come and go with the connections)
    assert {o["pid"] for o in events} - {streamer.pid} == {child}, events

    streamer.send_signal(signal.SIGINT)
    assert streamer.wait(timeout=DEADLINE) == 0
    rest, errors = streamer.communicate(timeout=DEADLINE)
    assert errors == b"", errors
    objects += [json.loads(line) for line in rest.decode().splitlines()]  # whole lines to the end
    assert all(isinstance(o.get("host"), str) for o in objects)
    wait_until(lambda: not agents_of(a) and not agents_of(b), what="every connection closed on the way out")


def test_watch_text_names_each_host_and_one_that_cannot_be_reached(sshd_hosts, children):
    sshd_hosts.start("remote-a")
    closed = f"127.0.0.1:{_free_port()}"
    streamer = watch(children, sshd_hosts, "--host", "remote-a", "--host", closed)
    lines: list[str] = []
    while not (any(" remote-a: watching " in line for line in lines) and any(f" {closed}: " in line for line in
                                                                              lines)):
        lines.append(read_line(streamer, timeout=DEADLINE * 2))
    assert any(line.endswith(" remote-a: connected, python " + line.rsplit(" ", 1)[-1]) for line in lines)
    refused = next(line for line in lines if f" {closed}: " in line)
    assert f"  {closed}: disconnected: connection refused" in refused, refused
    assert re.search(r"; retry in [01]s$", refused), refused  # 1 s after the first failure (0 s left, if late)
    streamer.send_signal(signal.SIGTERM)
    assert streamer.wait(timeout=DEADLINE) == 0
    assert streamer.communicate(timeout=DEADLINE)[1] == b""


def test_watch_with_hosts_ends_quietly_when_the_reader_goes_and_closes_its_connections(sshd_hosts):
    server = sshd_hosts.start("remote-a")
    script = (f"{sys.executable} -m procwatch --watch --json --snapshots --interval 0.25 --host remote-a "
              f"--ssh-config {sshd_hosts.config} | head -n 2 >/dev/null; echo ${{PIPESTATUS[0]}}")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=REPO, timeout=DEADLINE * 3)
    assert result.stdout.strip() == "0" and result.stderr == "", result
    wait_until(lambda: not agents_of(server), what="the connection closed by procwatch on its way out")


def session_processes(server) -> set[int]:
    """The processes the server's sessions run (not sshd's own)."""
    return {pid for pid in server.session_pids() if not procfs.read(f"/proc/{pid}/cmdline").startswith(b"sshd")}


def test_procwatchs_own_processes_on_the_remote_are_known(sshd_hosts, tmp_path):
    """The agent and the shell around it (or the shell running ps, and its ps): a check does not count them,
    --watch does not report the ps it runs every sweep."""
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("sh", "ps", "sleep"):
        (bare / tool).symlink_to(subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                                                text=True).stdout.strip())
    with_python, without = sshd_hosts.start("remote-a"), sshd_hosts.start("nopython", path=str(bare))
    options = SshOptions(config=str(sshd_hosts.config))
    with RemoteCollector(HostSpec.parse("remote-a"), options=options) as collector:
        procs = collector.sweep().procs
        own = collector.own_pids(procs)
        assert set(agents_of(with_python)) < own
        assert own == session_processes(with_python)  # the agent and its shell, nothing else
    with RemoteCollector(HostSpec.parse("nopython"), options=options) as collector:
        procs = collector.sweep().procs
        own = collector.own_pids(procs)
        assert collector.status.mode == "ps"
        shells = [pid for pid in own if procs[pid].name == "sh"]
        ps = [pid for pid in own if procs[pid].name == "ps"]
        assert len(ps) == 1 and procs[ps[0]].ppid in shells  # the ps of that very sweep, and its shell
        assert set(shells) <= session_processes(without)


def me() -> str:
    with open(f"/proc/{os.getpid()}/comm") as comm:
        return comm.read().strip()


def check(sshd_hosts, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "procwatch", "--check", "--ssh-config", str(sshd_hosts.config),
                           *args], capture_output=True, text=True, cwd=REPO, timeout=DEADLINE * 4)


def test_check_sums_over_hosts_and_names_them(sshd_hosts, children):
    sshd_hosts.start("remote-a")
    sshd_hosts.start("remote-b")
    zombie = children.zombie(3)
    parent = f"{os.getpid()} ({me()})"
    local = check(sshd_hosts, "--state", "Z", "--filter", str(zombie.pid), "--warning", "0", "--critical", "5")
    assert (local.returncode, local.stdout) == (1, f"PROCS WARNING: 1 process with state Z and text "
                                                   f"'{zombie.pid}'; worst parent {parent} has 1 | procs=1;0;5;0; "
                                                   "parents=1;;;0;\n")
    both = check(sshd_hosts, "--state", "Z", "--filter", str(zombie.pid), "--warning", "0", "--critical", "5",
                 "--host", "remote-a", "--host", "remote-b")
    assert (both.returncode, both.stdout, both.stderr) == (
        1, f"PROCS WARNING: 2 processes with state Z and text '{zombie.pid}' on 2 hosts (remote-a 1, remote-b 1); "
           f"worst parent {parent} on remote-a has 1 | procs=2;0;5;0; parents=2;;;0;\n", "")
    one = check(sshd_hosts, "--state", "Z", "--filter", str(zombie.pid), "--critical", "0:1", "--host", "remote-b")
    assert (one.returncode, one.stdout) == (0, f"PROCS OK: 1 process with state Z and text '{zombie.pid}' on 1 "
                                               f"host; worst parent {parent} on remote-b has 1 | procs=1;;0:1;0; "
                                               "parents=1;;;0;\n")


LEAKER = """
import ctypes, os, sys
for _ in range(2):
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(sys.argv[1].encode()), 0, 0, 0)
        os._exit(3)
print('ready', flush=True)
sys.stdin.readline()
"""


def test_check_per_parent_names_the_worst_parent_with_its_host(sshd_hosts, children):
    sshd_hosts.start("remote-a")
    sshd_hosts.start("remote-b")
    name = "pwl-" + uuid.uuid4().hex[:8]
    leaker = children.python(LEAKER, name, stdin=subprocess.PIPE)
    wait_until(lambda: [state_of(pid) for pid in procfs.children_map().get(leaker.pid, ())] == ["Z", "Z"],
               what="two unreaped children")
    result = check(sshd_hosts, "--state", "Z", "--filter", name, "--per-parent", "--warning", "1", "--critical",
                   "5", "--host", "remote-a", "--host", "remote-b")
    assert result.returncode == 1, result
    assert result.stdout.startswith(f"PROCS WARNING: 4 processes with state Z and text '{name}' on 2 hosts "
                                    f"(remote-a 2, remote-b 2); worst parent {leaker.pid} (")
    assert result.stdout.endswith(") on remote-a has 2 | procs=4;;;0; worst_parent=2;1;5;0; parents=2;;;0;\n")


def test_check_a_host_that_cannot_be_reached_is_unknown_and_named(sshd_hosts, children):
    """UNKNOWN, as check_by_ssh says when ssh fails; a WARNING or CRITICAL already found on the others stays."""
    sshd_hosts.start("remote-a")
    zombie = children.zombie(3)
    closed = f"127.0.0.1:{_free_port()}"
    unknown = check(sshd_hosts, "--state", "Z", "--filter", str(zombie.pid), "--host", "remote-a", "--host", closed)
    assert (unknown.returncode, unknown.stdout) == (
        3, f"PROCS UNKNOWN: 1 process with state Z and text '{zombie.pid}' on 1 host (remote-a 1); worst parent "
           f"{os.getpid()} ({me()}) on remote-a has 1; cannot reach "
           f"{closed} (connection refused: no ssh server listens on that port) | procs=1;;;0; parents=1;;;0; "
           "unreachable=1;;;0;\n")
    warning = check(sshd_hosts, "--state", "Z", "--filter", str(zombie.pid), "--warning", "0", "--host", "remote-a",
                    "--host", closed)
    assert warning.returncode == 1 and warning.stdout.startswith("PROCS WARNING: 1 process")
    assert f"; cannot reach {closed} (connection refused" in warning.stdout
    nobody = check(sshd_hosts, "--state", "Z", "--host", closed)
    assert (nobody.returncode, nobody.stdout) == (
        3, f"PROCS UNKNOWN: cannot reach {closed} (connection refused: no ssh server listens on that port)\n")
