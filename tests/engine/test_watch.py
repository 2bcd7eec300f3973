"""`--watch [--json]`: a real zombie made and reaped while procwatch streams; every line parsed by json.loads and
by jq (when installed); SIGINT and a closed pipe end it with status 0 and no traceback. And `--procfs`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid

import pytest
from support.polling import DEADLINE, wait_until
from support.procs import LIFETIME, PY_NAMED_ZOMBIE_PARENT, REPO, ppid_of, read_line, state_of, wait_state

from procwatch.engine import procfs
from procwatch.engine.collector import ProcfsCollector
from procwatch.engine.lineage import EVENT_KINDS, Exec, Exited, FirstSeen, Lineage, ThreadsChanged
from procwatch.watch import event_object

pytestmark = pytest.mark.usefixtures("no_leftover_children")



def watch(children, *args: str) -> subprocess.Popen:
    """Unbuffered bytes: readline then takes one line from the pipe and no more, so select() (in read_line) sees
    whatever follows."""
    return children.start([sys.executable, "-m", "procwatch", "--watch", "--interval", "0.25", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, cwd=REPO)


def tell(proc: subprocess.Popen, line: str = "go") -> None:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def test_json_lines_while_a_zombie_is_made_and_reaped(children):
    name = "pww-" + uuid.uuid4().hex[:8]
    streamer = watch(children, "--json", "--snapshots", "--filter", name)
    lines: list[str] = []

    def next_object() -> dict:
        line = read_line(streamer)
        lines.append(line)
        return json.loads(line)

    assert next_object()["event"] == "snapshot"  # the first sweep is done: what happens now is an event
    parent = children.start([sys.executable, "-c", PY_NAMED_ZOMBIE_PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, exits_on_eof=True)
    # The child takes its name after fork(): a sweep in between would see it first under its parent's name, and the
    # filter would drop its "new". procwatch (our child) is stopped meanwhile: its next sweep sees the named zombie.
    streamer.send_signal(signal.SIGSTOP)
    wait_state(streamer.pid, "T")
    tell(parent, name)
    child = int(read_line(parent))
    wait_until(lambda: state_of(child) == "Z", what="the child to be a zombie")
    streamer.send_signal(signal.SIGCONT)
    seen: dict[str, dict] = {}
    while "zombie" not in seen:
        o = next_object()
        if o["event"] != "snapshot":
            assert o["pid"] == child, o  # the filter keeps only our child's events
            seen[o["event"]] = o
    assert seen["zombie"]["parent"] == parent.pid and seen["zombie"]["exit_code"] == 3 << 8
    assert seen["zombie"]["name"] == name and isinstance(seen["zombie"]["start_ticks"], int)
    assert "new" in seen  # first seen (alive or already a zombie) before or in the same sweep
    tell(parent)
    assert read_line(parent) == "reaped"
    while "reaped" not in seen:
        o = next_object()
        if o["event"] != "snapshot":
            seen[o["event"]] = o
    assert (seen["reaped"]["pid"], seen["reaped"]["exit_code"], seen["reaped"]["parent"]) == (
        child, 3 << 8, parent.pid)
    streamer.send_signal(signal.SIGINT)
    assert streamer.wait(timeout=DEADLINE) == 0
    rest, errors = streamer.communicate(timeout=DEADLINE)
    lines += rest.decode().splitlines()
    assert errors == b"", errors
    objects = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(o, dict) and "event" in o for o in objects)
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed (apt-get install jq): json.loads checked every line")
    result = subprocess.run([jq, "-c", "."], input="\n".join(lines) + "\n", capture_output=True, text=True,
                            timeout=DEADLINE)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(lines)
    result = subprocess.run([jq, "-r", 'select(.event == "reaped") | .pid'], input="\n".join(lines) + "\n",
                            capture_output=True, text=True, timeout=DEADLINE)
    assert result.stdout.split() == [str(child)]


def test_text_form_says_it_in_words(children):
    name = "pwt-" + uuid.uuid4().hex[:8]
    streamer = watch(children, "--filter", name)
    assert read_line(streamer).startswith("watching ")
    parent = children.start([sys.executable, "-c", PY_NAMED_ZOMBIE_PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, exits_on_eof=True)
    tell(parent, name)
    child = int(read_line(parent))
    line = ""
    while "zombie" not in line:
        line = read_line(streamer)
    assert f"{child} ({name}) exited (exit 3): a zombie until {parent.pid} (" in line  # the event log's words
    tell(parent)
    while "reaped" not in line:
        line = read_line(streamer)
    assert f"{child} ({name}) was reaped (exit 3): gone from the process table" in line
    streamer.send_signal(signal.SIGTERM)  # `kill PID` ends it as Ctrl+C does
    assert streamer.wait(timeout=DEADLINE) == 0
    assert streamer.communicate(timeout=DEADLINE)[1] == b""


def test_a_closed_pipe_ends_it_quietly():
    """`procwatch --watch --json --snapshots | head -n 2`: procwatch ends with status 0 and says nothing."""
    script = (f"{sys.executable} -m procwatch --watch --json --snapshots --interval 0.25 | head -n 2 >/dev/null;"
              " echo ${PIPESTATUS[0]}")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=REPO, timeout=DEADLINE * 3)
    assert result.stdout.strip() == "0" and result.stderr == "", result


def test_procfs_slash_proc_is_the_default(children):
    sleeper = children.sleeper()
    outputs = []
    for extra in ((), ("--procfs", "/proc")):
        result = subprocess.run([sys.executable, "-m", "procwatch", "--once", "--json", "--filter",
                                 str(sleeper.pid), *extra], capture_output=True, text=True, cwd=REPO,
                                timeout=DEADLINE * 3)
        assert result.returncode == 0 and result.stderr == ""
        mine = [o for o in json.loads(result.stdout) if o["pid"] == sleeper.pid]
        outputs.append([(o["pid"], o["ppid"], o["stat"], o["argv"], o["started"]) for o in mine])
    assert outputs[0] == outputs[1] and outputs[0][0][3] == ["sleep", LIFETIME]


def test_foreign_procfs_is_read_and_signals_are_refused(tmp_path, children):
    """A procfs that is not ours (here: a copy of one real process's files, since making a second PID namespace
    needs privileges): the process is read from it, the user is told, and a signal through it is refused."""
    sleeper = children.sleeper()
    copy = tmp_path / "proc"
    (copy / str(sleeper.pid)).mkdir(parents=True)
    for name in ("stat", "status", "cmdline", "cgroup"):
        (copy / str(sleeper.pid) / name).write_bytes(procfs.read(f"/proc/{sleeper.pid}/{name}"))
    (copy / "stat").write_bytes(procfs.read("/proc/stat"))
    result = subprocess.run([sys.executable, "-m", "procwatch", "--once", "--procfs", str(copy)],
                            capture_output=True, text=True, cwd=REPO, timeout=DEADLINE * 3)
    assert result.returncode == 0
    assert f"sleep {LIFETIME}" in result.stdout
    assert "another PID namespace" in result.stderr
    ticks = procfs.start_ticks(sleeper.pid)
    assert ticks is not None
    with pytest.raises(procfs.SignalRefused) as refused:
        procfs.signal_process((sleeper.pid, ticks), signal.SIGTERM, str(copy))
    assert refused.value.reason == "unproven"
    assert state_of(sleeper.pid) == "S"
    assert os.path.isdir(copy)


def test_lineage_events_for_exec_threads_and_exit(children):
    """The typed events --watch prints, from real processes: exec (same pid and start time, new program), a
    thread started, exited (reaped between two sweeps, never seen as a zombie)."""
    collector, lineage = ProcfsCollector(), Lineage()
    lineage.observe(collector.sweep())
    shell = children.start(["sh", "-c", f"read x; exec sleep {LIFETIME}"], stdin=subprocess.PIPE, text=True)
    threads = children.python("import threading, sys, time\nprint('ready', flush=True)\nsys.stdin.readline()\n"
                              f"threading.Thread(target=time.sleep, args=({LIFETIME},)).start()\n"
                              f"time.sleep({LIFETIME})", stdin=subprocess.PIPE)
    wait_until(lambda: state_of(shell.pid) == "S", what="the shell to wait for input")
    events = lineage.observe(collector.sweep()).events
    new = {e.identity[0]: e for e in events if isinstance(e, FirstSeen)}
    assert new[shell.pid].name == "sh" and new[shell.pid].parent == os.getpid() == ppid_of(threads.pid)
    shell.stdin.write("go\n")
    shell.stdin.flush()
    threads.stdin.write(b"go\n")
    threads.stdin.flush()
    wait_until(lambda: procfs.split_stat(procfs.read(f"/proc/{shell.pid}/stat"))[0] == "sleep", what="the exec")
    wait_until(lambda: int(procfs.stat_fields(threads.pid)[17]) == 2, what="the second thread")
    events = lineage.observe(collector.sweep()).events
    execs = [e for e in events if isinstance(e, Exec) and e.identity[0] in (shell.pid, threads.pid)]  # not others'
    assert [(e.identity[0], e.old_name, e.new_name, EVENT_KINDS[type(e)]) for e in execs] == [
        (shell.pid, "sh", "sleep", "exec")]
    assert [(e.old, e.new) for e in events if isinstance(e, ThreadsChanged) and e.identity[0] == threads.pid] == [
        (1, 2)]
    identity = (shell.pid, procfs.start_ticks(shell.pid))
    shell.kill()
    shell.wait()
    events = lineage.observe(collector.sweep()).events
    assert [e for e in events if isinstance(e, Exited) and e.identity == identity] == [
        Exited(events[0].at, identity, os.getpid(), "sleep")]


def test_each_thread_change_is_printed_as_it_happens():
    """--watch streams every change (the event log's coalescing is for its bounded ring): the JSON keeps its fields."""
    assert event_object(ThreadsChanged(1.5, (5, 1), 1, 3), None) == {
        "event": "threads", "at": 1.5, "pid": 5, "start_ticks": 1, "old": 1, "new": 3}
