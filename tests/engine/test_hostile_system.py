"""An odd system and an odd stdout: a /proc from another PID namespace, /proc mounted subset=pid, command lines
rewritten in place or longer than 1 MiB, an output that cannot encode the guides, a full disk, a closed pipe, a
terminal narrower than a CJK line. Each case uses processes this test starts."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from procwatch.engine import procfs
from procwatch.engine.collector import ProcfsCollector
from procwatch.engine.escape import cell_width

PYTHON = sys.executable
ROOT = os.geteuid() == 0


def run_procwatch(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([PYTHON, "-m", "procwatch", *args], timeout=60, env=dict(os.environ, **(env or {})),
                          **kwargs)


@pytest.fixture
def child():
    started: list[subprocess.Popen] = []

    def start(code: str, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen([PYTHON, "-c", code, *args], stdout=subprocess.PIPE, text=True)
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


FOREIGN_PROC = r"""
import signal, subprocess
from procwatch.engine import procfs
from procwatch.engine.collector import ProcfsCollector
from procwatch.engine.words import note_words
child = subprocess.Popen(["sleep", "30"])
host = procfs.start_ticks(child.pid)  # what the host's /proc shows under that number: another process
try:
    procfs.signal_process((child.pid, host), signal.SIGTERM)
    outcome = "sent"
except procfs.SignalRefused as refused:
    outcome = refused.reason
print(procfs.proc_is_ours(), outcome, child.poll() is None, [note_words(n) for n in ProcfsCollector().notes])
child.kill(); child.wait()
"""


@pytest.mark.skipif(not ROOT, reason="unshare -p needs root here")
def test_a_proc_from_another_pid_namespace_is_detected_and_no_signal_goes_astray():
    result = subprocess.run(["unshare", "-p", "-f", PYTHON, "-c", FOREIGN_PROC], capture_output=True, text=True,
                            timeout=60)
    if result.returncode and "unshare" in result.stderr:
        pytest.skip(f"unshare not permitted: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    ours, outcome, alive, notes = result.stdout.split(" ", 3)
    assert (ours, outcome, alive) == ("False", "unproven", "True")
    assert "another PID namespace" in notes


@pytest.mark.skipif(not ROOT, reason="mounting /proc needs root")
def test_proc_mounted_subset_pid_still_works():
    script = f"mount -t proc -o subset=pid proc /proc && test ! -e /proc/stat && exec {PYTHON} -m procwatch --once --json"
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    if result.returncode and ("mount" in result.stderr or "unshare" in result.stderr):
        pytest.skip(f"cannot mount /proc subset=pid here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    me = [row for row in rows if row["pid"] == os.getpid()]
    assert me and abs(me[0]["started"] - procfs.boot_time() - procfs.start_ticks(os.getpid()) / os.sysconf("SC_CLK_TCK")) < 2


# A process that rewrites its own command line in place, as setproctitle and postgres do: through /proc/self/mem
# into the argument area the kernel shows as /proc/PID/cmdline.
RETITLE = r"""
import os, sys
fields = open("/proc/self/stat", "rb").read().rsplit(b")", 1)[1].split()
start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49)
print("ready", flush=True)
sys.stdin.readline()
title = b"postgres: " + b"app db idle".ljust(end - start - 1, b"\0")[: end - start - 1]
with open("/proc/self/mem", "r+b", buffering=0) as mem:
    mem.seek(start)
    mem.write(title)
print("retitled", flush=True)
sys.stdin.readline()
"""


class StepClock:
    """The collector's clock, moved by the test: the bound is on the collector's own time, not on how fast this
    machine sweeps."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_command_line_rewritten_in_place_is_shown_within_the_bound():
    proc = subprocess.Popen([PYTHON, "-c", RETITLE, "x" * 40], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        clock, max_age, step = StepClock(), 0.5, 0.25
        collector = ProcfsCollector(status_max_age=max_age, clock=clock)
        before = collector.sweep().procs[proc.pid].cmdline
        assert "postgres: app" not in before
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "retitled"
        assert "postgres: app db idle" in procfs.read(f"/proc/{proc.pid}/cmdline").decode(errors="replace")
        assert "postgres: app" not in collector.sweep().procs[proc.pid].cmdline  # no time passed: not due yet
        changed_at = clock.now
        while "postgres: app db idle" not in collector.sweep().procs[proc.pid].cmdline:  # a sweep every `step`
            assert clock.now - changed_at < max_age + step, "not shown within status_max_age plus one interval"
            clock.now += step
    finally:
        proc.kill()
        proc.wait()


def test_argv_longer_than_one_mib_is_read_whole(child):
    chunk = "a" * (128 * 1024 - 1)  # MAX_ARG_STRLEN is 128 KiB per argument
    args = [chunk] * 10  # 1.25 MiB in all
    proc = child("import sys, time\nprint('ready', flush=True)\ntime.sleep(60)", *args)
    record = ProcfsCollector().sweep().procs[proc.pid]
    assert list(record.argv[-10:]) == args
    result = run_procwatch("--once", "--json", "--filter", str(proc.pid))
    shown = [row for row in json.loads(result.stdout) if row["pid"] == proc.pid]
    assert shown and shown[0]["argv"][-10:] == args


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_once_falls_back_to_ascii_guides_when_stdout_cannot_encode_them(encoding, child):
    proc = child("import time\nprint('ready', flush=True)\ntime.sleep(60)", "名前-ñ")
    result = run_procwatch("--once", env={"PYTHONIOENCODING": encoding})
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    text = result.stdout.decode(encoding)
    assert "|- " in text or "`- " in text
    mine = [line for line in text.splitlines() if line.lstrip().startswith(f"{proc.pid} ")]
    assert mine and "\\u540d\\u524d-" in mine[0]  # what the encoding lacks comes out escaped, not as '?'


def test_once_into_a_full_disk_says_so_in_one_line():
    with open("/dev/full", "w") as full:
        result = run_procwatch("--once", stdout=full)
    assert result.returncode == 1
    assert result.stderr.decode().strip().splitlines() == ["procwatch: cannot write the output: No space left on device"]


def test_once_into_a_closed_pipe_is_silent():
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run([PYTHON, "-m", "procwatch", "--once"], stdout=writer, stderr=subprocess.PIPE,
                                timeout=60, env=env)
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (0, b"")


def test_an_interval_below_the_fastest_step_is_refused():
    from procwatch.engine.model import INTERVAL_STEPS, MIN_INTERVAL

    assert INTERVAL_STEPS[0] == MIN_INTERVAL  # one rule for `<` and for --interval
    result = run_procwatch("--interval", "1e-9")
    assert result.returncode == 2 and b"0.25" in result.stderr and b"Traceback" not in result.stderr
    assert run_procwatch("--once", "--interval", "0.25").returncode == 0


def test_once_on_a_narrow_terminal_cuts_by_cells(child):
    proc = child("import time\nprint('ready', flush=True)\ntime.sleep(60)", "進程" * 100)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))
    try:
        env = dict(os.environ)
        env.pop("COLUMNS", None)
        subprocess.run([PYTHON, "-m", "procwatch", "--once", "--filter", str(proc.pid)], stdout=slave,
                       stderr=subprocess.DEVNULL, timeout=60, env=env)
        os.close(slave)
        output = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(master)
    lines = output.decode().replace("\r", "").splitlines()
    mine = [line for line in lines if line.lstrip().startswith(f"{proc.pid} ")]
    assert mine and "進程" in mine[0]
    assert all(cell_width(line) <= 200 for line in lines), [cell_width(line) for line in lines]


def test_once_sort_cpu_orders_siblings_by_cpu_time(child):
    busy = child("import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
                 "print('ready', flush=True)\ntime.sleep(60)")
    idle = child("import time\nprint('ready', flush=True)\ntime.sleep(60)")
    result = run_procwatch("--once", "--json", "--sort", "cpu")
    assert result.returncode == 0, result.stderr
    order = [row["pid"] for row in json.loads(result.stdout) if row["pid"] in (busy.pid, idle.pid)]
    assert order == [busy.pid, idle.pid]
    order = [row["pid"] for row in json.loads(run_procwatch("--once", "--json", "--sort", "pid").stdout)
             if row["pid"] in (busy.pid, idle.pid)]
    assert order == sorted(order)
