"""The remote collector's wire format and its defences, without sshd: the "ssh" program is a script that runs the
remote command here (the real agent) or plays a hostile remote. Every failure must be one line, never a crash."""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import replace

import pytest
from support.polling import wait_until
from support.procs import REPO

from procwatch.engine import procfs, ps_text, wire
from procwatch.engine.collector import ProcfsCollector
from procwatch.engine.remote import HostSpec, RemoteCollector, RemoteError, SshOptions

pytestmark = pytest.mark.usefixtures("no_leftover_children")

HELLO = '["hello",1,{"python":"3.11","kernel":"6","notes":[]}]'
RECORD = [1, 0, 5, 0, "root", "S", 0, 1, 1, 1, -1, 0, 0, 0, 4096, 3, 0.0, "init", ["/sbin/init"], False, 1.5,
          8192, "/init.scope"]


def fake_ssh(tmp_path, body: str, name: str = "ssh") -> str:
    """An executable standing for ssh: `body` is shell; `$last` is the remote command procwatch asked for."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\nfor last; do :; done\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def collect(program: str, **kwargs) -> RemoteCollector:
    return RemoteCollector(HostSpec.parse("fake"), options=SshOptions(program=program, connect_timeout=5), **kwargs)


def failure(program: str) -> str:
    collector = collect(program)
    try:
        with pytest.raises(RemoteError) as error:
            collector.sweep()
    finally:
        collector.close()
    reason = str(error.value)
    assert "\n" not in reason and "\x1b" not in reason
    return reason


def test_deltas_rebuild_the_same_snapshots_and_idle_costs_little():
    collector, encoder, decoder = ProcfsCollector(), wire.DeltaEncoder(), wire.DeltaDecoder()
    sizes = []
    for _ in range(3):
        snapshot = collector.sweep()
        data = encoder.encode(snapshot)
        sizes.append(len(data))
        lines = io.BytesIO(data)
        reader = wire.LineReader(lines)
        header = wire.parse_line(reader.next())
        decoded = decoder.read_snapshot(header, reader.next)
        assert decoded.procs == snapshot.procs
        assert reader.next() is None
    assert sizes[1] < sizes[0] / 3 and sizes[2] < sizes[0] / 3  # only what changed


def test_an_unchanged_command_line_is_not_sent_again():
    encoder, decoder = wire.DeltaEncoder(), wire.DeltaDecoder()
    first = ProcfsCollector().sweep()
    record = wire.parse_record(list(RECORD))
    busy = record._replace(argv=("x" * 5000,))
    for cpu in (3, 4):
        snapshot = replace(first, procs={1: busy._replace(cpu_ticks=cpu)})
        data = encoder.encode(snapshot)
        reader = wire.LineReader(io.BytesIO(data))
        assert decoder.read_snapshot(wire.parse_line(reader.next()), reader.next).procs == snapshot.procs
    assert len(data) < 300  # the second: CPU time changed, the 5,000-character argv stayed home


@pytest.mark.parametrize(("full", "said"), [(1, "bad argv"), (0, "never sent")])
def test_a_null_command_line_must_refer_to_one_sent(full, said):
    decoder = wire.DeltaDecoder()
    decoder.started = True
    lines = iter([json.dumps([*RECORD[:18], None, *RECORD[19:]]).encode() + b"\n"])
    with pytest.raises(wire.WireError, match=said):
        decoder.read_snapshot(["snap", 1, 0, full, 1, []], lambda: next(lines))


def test_argv_is_cut_to_a_bound():
    assert wire.cut_argv(("a" * 10, "b" * 10), 15) == ("a" * 10, "b" * 5)
    assert wire.cut_argv(("a", "b"), 15) == ("a", "b")


@pytest.mark.parametrize(("record", "said"), [
    ([*RECORD[:-1]], "expected length"),
    (["1", *RECORD[1:]], "bad pid"),
    ([True, *RECORD[1:]], "bad pid"),
    ([0, *RECORD[1:]], "bad pid"),
    ([*RECORD[:5], "Q", *RECORD[6:]], "bad state"),
    ([*RECORD[:17], "x" * 300, *RECORD[18:]], "bad name"),
    ([*RECORD[:18], ["a", 1], *RECORD[19:]], "bad argv"),
    ([*RECORD[:18], ["a" * (wire.MAX_ARGV + 1)], *RECORD[19:]], "bad argv"),
    ([*RECORD[:20], float("nan"), *RECORD[21:]], "bad started"),
    ([*RECORD[:22], "x" * 5000], "bad cgroup"),
    ({"pid": 1}, "expected length"),
])
def test_every_record_is_checked(record, said):
    with pytest.raises(wire.WireError, match=said):
        wire.parse_record(json.loads(json.dumps(record)))


def test_a_good_record_becomes_a_procinfo():
    record = wire.parse_record(list(RECORD))
    assert record.pid == 1 and record.argv == ("/sbin/init",) and record.cmdline == "/sbin/init"


def test_the_real_agent_through_a_local_pipe(tmp_path):
    with collect(fake_ssh(tmp_path, 'exec sh -c "$last"'), interval=0.25) as collector:
        snapshot = collector.sweep()
        assert snapshot.get(os.getpid()) is not None
        assert collector.status.state == "connected" and collector.status.mode == "python"
        wait_until(lambda: collector.snapshots_received >= 3, what="deltas")


def test_what_a_login_shell_prints_first_is_skipped(tmp_path):
    program = fake_ssh(tmp_path, 'echo "Welcome to the machine"; echo "\033[31mlast login\033[0m"; exec sh -c "$last"')
    with collect(program) as collector:
        assert len(collector.sweep()) > 5


@pytest.mark.parametrize(("body", "said"), [
    ("yes 'garbage line' | head -n 1000", "did not greet"),
    (f"echo '{HELLO}'; head -c 300000 /dev/zero | tr '\\0' x; echo", "line longer than 256 KiB"),
    (f"echo '{HELLO}'; printf '[\"snap\",1,0,1,1,[]]\\n[1,0,'", "stopped in the middle of a line"),
    (f"echo '{HELLO}'; echo '[\"snap\",1,0,1,5,[]]'; echo '{json.dumps(RECORD)}'", "in the middle of a snapshot"),
    (f"echo '{HELLO}'; echo '[\"snap\",1,0,1,999999999,[]]'", "header is malformed"),
    (f"echo '{HELLO}'; echo '[\"snap\",1,0,0,0,[]]'", "changes before a whole snapshot"),
    (f"echo '{HELLO}'; echo '[\"snap\",1,0,1,1,[]]'; echo '[1,2,3]'", "expected length"),
    (f"echo '{HELLO}'; printf '\\377\\376\\n'", "not procwatch's protocol"),
    (f"echo '{HELLO}'; echo '[\"reply\",7,\"sent\",\"\"]'", "a request procwatch did not make"),
    ("echo '[\"hello\",2,{}]'", "protocol 2"),
    ("echo '[\"error\",\"\\u001b]0;pwned\\u0007 no /proc\"]'", "\\e]0;pwned\\x07 no /proc"),
    ("exit 0", "the connection ended"),
    ("echo 'ssh: connect to host fake port 22: Connection refused' >&2; exit 255", "connection refused"),
    ("printf 'bad thing \\033[2J happened\\n' >&2; exit 255", "ssh: bad thing \\e[2J happened"),
])
def test_a_hostile_or_broken_remote_is_one_line(tmp_path, body, said):
    assert said in failure(fake_ssh(tmp_path, body))


def test_a_flood_is_cut_off(tmp_path):
    with collect(fake_ssh(tmp_path, f"echo '{HELLO}'; exec yes '[\"snap\",1,0,1,0,[]]'")) as collector:
        collector.sweep()  # the first snapshots are taken, then the rate gives it away
        wait_until(lambda: collector.status.state == "disconnected", what="the flood cut off")
        assert "floods" in collector.status.reason


def test_a_remote_that_says_nothing_times_out(tmp_path):
    collector = RemoteCollector(HostSpec.parse("fake"), options=SshOptions(program=fake_ssh(tmp_path, "exec sleep 30")),
                                first_timeout=0.5)
    with pytest.raises(RemoteError, match="sent no processes in time"):
        collector.sweep()
    collector.close()
    assert collector.status.state == "closed"


def test_a_dropped_connection_is_retried_with_backoff(tmp_path):
    counter = tmp_path / "count"
    program = fake_ssh(tmp_path, f'echo x >> {counter}; [ "$(wc -l < {counter})" -ge 2 ] && exec sh -c "$last"; exit 255')
    with collect(program, reconnect=True) as collector:
        wait_until(lambda: collector.status.state == "disconnected", what="the first attempt failing")
        assert collector.status.retry_at is not None
        wait_until(lambda: collector.status.state == "connected", what="the second attempt", timeout=15)
        assert collector.sweep().get(os.getpid()) is not None


@pytest.mark.parametrize(("text", "expected"), [
    ("web1", ("web1", None, None)),
    ("alice@web1:2222", ("web1", "alice", 2222)),
    ("[::1]:22", ("::1", None, 22)),
    ("bob@[fe80::1]", ("fe80::1", "bob", None)),
])
def test_host_specs(text, expected):
    spec = HostSpec.parse(text)
    assert (spec.host, spec.user, spec.port) == expected and spec.label == text


@pytest.mark.parametrize("text", ["", "-oProxyCommand=x", "a@-b", "web1:0", "web1:99999", "a b", "web\x1b1", "a@"])
def test_bad_host_specs(text):
    with pytest.raises(ValueError):
        HostSpec.parse(text)


def interpreter(version: str) -> str | None:
    """A python of that minor version on this machine (PATH, or pyenv's versions), or None."""
    found = shutil.which(f"python{version}")
    candidates = [found] if found else []
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
    for path in candidates:
        real = os.path.realpath(path)
        if "/shims/" not in path and os.access(real, os.X_OK):
            return real
    return None


@pytest.mark.parametrize(("version", "mode"), [("3.10", "python"), ("3.8", "ps")])
def test_the_oldest_python_claimed_runs_the_agent_and_an_older_one_falls_back(tmp_path, version, mode):
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no python{version} on this machine")
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python3").symlink_to(python)
    for tool in ("sh", "ps", "sleep"):
        (bare / tool).symlink_to(os.path.realpath(shutil.which(tool) or tool))
    with collect(fake_ssh(tmp_path, f'PATH={bare} exec sh -c "$last"')) as collector:
        snapshot = collector.sweep()
        assert collector.status.mode == mode
        assert snapshot.get(os.getpid()) is not None
        if mode == "python":
            assert collector.status.python.startswith(version)
        else:
            assert "python3 older than 3.10 there: read with ps" in snapshot.notes[0]


def ssh_on_path(tmp_path, body: str = 'exec sh -c "$last"') -> dict[str, str]:
    """An environment whose `ssh` is a stand-in (body: shell, `$last` is the remote command)."""
    directory = tmp_path / "path"
    directory.mkdir()
    fake_ssh(directory, body)
    return {**os.environ, "PATH": f"{directory}:{os.environ['PATH']}"}


ONCE_HOST = """
import contextlib, io, json, sys
from procwatch.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    assert main(["--once", "--json", "--no-config", "--host", "a", "--host", "b"]) == 0
assert {o["host"] for o in json.loads(out.getvalue())} == {"a", "b"}, out.getvalue()[:300]
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "psutil", "rich"))
assert not loaded, loaded
print("ok")
"""


def test_once_host_loads_no_textual_rich_nor_psutil(tmp_path):
    result = subprocess.run([sys.executable, "-c", ONCE_HOST], capture_output=True, text=True, cwd=REPO,
                            env=ssh_on_path(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_once_host_text_and_a_failing_host(tmp_path):
    env = ssh_on_path(tmp_path, 'for a; do [ "$a" = down ] && { echo "ssh: Could not resolve hostname down: '
                                'Name or service not known" >&2; exit 255; }; done; exec sh -c "$last"')
    result = subprocess.run([sys.executable, "-m", "procwatch", "--once", "--host", "up", "--host", "down",
                             "--filter", str(os.getpid())], capture_output=True, text=True, cwd=REPO, env=env,
                            timeout=60)
    assert result.returncode == 1
    assert result.stderr == "procwatch: down: cannot resolve the host name\n"
    lines = result.stdout.splitlines()
    assert lines[0] == "host up" and lines[1].split() == ["PID", "USER", "STAT", "COMMAND"]
    assert any(line.split()[0] == str(os.getpid()) for line in lines[2:])


@pytest.mark.parametrize(("argv", "said"), [
    (["--host", "a b"], "--host: 'a b' is not [user@]HOST[:PORT]"),
    (["--host=-oProxyCommand=x"], "may not start with '-'"),
    (["--host", "a:70000"], "port 70000"),
    (["--once", "--host", "a", "--ssh-config", "/nonexistent/file"], "--ssh-config: cannot read"),
    (["--once", "--host", "a", "--connect-timeout", "0"], "--connect-timeout: '0' must be from 1 to 600"),
    (["--lesson", "--host", "a"], "--host and --group go with the TUI, --once, --watch and --check"),
    (["--once", "--host", "a", "--procfs", "/proc/self/root/proc"], "(--procfs, --lesson and --web read this"),
    (["--once", "--host", "a", "--ssh-option", "BatchMode=no"], "--ssh-option: 'BatchMode=no': procwatch sets "
     "BatchMode itself"),
    (["--once", "--host", "a", "--ssh-option=-oProxyCommand=x"], "is not an ssh option (Key=Value"),
    (["--once", "--ssh-option", "ProxyJump=b"], "--ssh-option goes with --host or --group"),
    (["--once", "--group", "web"], "--group: no host of "),
    (["--once", "--group", "we b"], "--group: 'we b' is not a group name"),
])
def test_bad_host_arguments_are_one_line_and_exit_2(argv, said):
    result = subprocess.run([sys.executable, "-m", "procwatch", *argv], capture_output=True, text=True, cwd=REPO,
                            timeout=60)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and said in result.stderr, result.stderr


KILLED = """
import sys
from procwatch.engine.remote import HostSpec, RemoteCollector, SshOptions
collector = RemoteCollector(HostSpec.parse("a"), options=SshOptions(program=sys.argv[1])).start()
collector.sweep()
print(collector._proc.pid, flush=True)
sys.stdin.read()
"""


def test_procwatch_killed_leaves_no_ssh_and_no_agent(tmp_path, children):
    """SIGKILL on procwatch: ssh (its own session) sees its stdin end, so does the agent: both end."""
    program = fake_ssh(tmp_path, 'exec sh -c "$last"')
    proc = children.start([sys.executable, "-c", KILLED, program], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True, cwd=REPO)
    ssh_pid = int(proc.stdout.readline())
    agent = wait_until(lambda: [p for p in procfs.descendants(ssh_pid) if b"zlib.decompress"
                                in procfs.read(f"/proc/{p}/cmdline")], what="the agent")
    watched = [procfs.identity_of(ssh_pid), *(procfs.identity_of(p) for p in agent)]
    proc.kill()
    proc.wait()
    wait_until(lambda: not any(i and procfs.identity_of(i[0]) == i for i in watched), what="ssh and agent gone")


def test_ps_start_times_that_move_by_a_second_keep_the_identity():
    line = b"  42     1  0 root S  0 1 42 42 -1 100 2000 0 Mon Dec  7 14:15:57 2026 /usr/bin/sleep 60"
    first = ps_text.parse_line(line)
    moved = ps_text.parse_line(line.replace(b"14:15:57", b"14:15:58"))
    assert moved.start_ticks == first.start_ticks + 100
    assert ps_text.steady(moved, {42: first}.get).identity == first.identity
    later = ps_text.parse_line(line.replace(b"14:15:57", b"14:16:30"))  # a new process with the same pid
    assert ps_text.steady(later, {42: first}.get).identity != first.identity
    assert first.name == "sleep" and first.argv == ("/usr/bin/sleep", "60") and first.started % 60 == 57
    assert first.rss == 100 * 1024 and first.vsz == 2000 * 1024


@pytest.mark.parametrize("line", [
    b"",
    b"x 1 0 root S 0 1 1 1 -1 0 0 0 Mon Dec  7 14:15:57 2026 a",
    b"42 1 0 root Q 0 1 42 42 -1 100 0 0 Mon Dec  7 14:15:57 2026 a",
    b"42 1 0 root S 0 1 42 42 -1 100 0 0 Mon Foo  7 14:15:57 2026 a",
    b"42 1 0 root S 99 1 42 42 -1 100 0 0 Mon Dec  7 14:15:57 2026 a",
    b"42 1 0 root S 0 1 42 42 -1 100 0 0 Mon Dec  7 14:15:57 2026",
])
def test_ps_lines_procwatch_cannot_read_are_refused(line):
    with pytest.raises(wire.WireError):
        ps_text.parse_line(line)


@pytest.mark.parametrize(("status", "stderr", "said"), [
    (255, "root@h: Permission denied (publickey).\n", "authentication failed"),
    (1, "cat: /etc/shadow: Permission denied\n", "ssh: cat: /etc/shadow: Permission denied"),  # the remote's words
    (-9, "Permission denied\n", "ssh ended by SIGKILL"),
    (127, "sh: 1: python3: not found\n", "neither python3 nor ps"),
    (255, "", "ssh ended with status 255"),
    (0, "", "the connection ended"),
])
def test_ssh_failures_in_words(status, stderr, said):
    from procwatch.engine.remote import ssh_failure

    assert said in ssh_failure(status, stderr)
