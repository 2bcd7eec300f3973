"""`--check` as a monitoring system runs it: real zombies under real parents the test starts, exit codes 0/1/2/3,
one status line with perfdata; Nagios ranges exactly; check_procs (monitoring-plugins) as the reference."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import uuid

import pytest
from support.polling import DEADLINE, wait_until
from support.procs import REPO, state_of

from procwatch.engine.checks import CRITICAL, OK, UNKNOWN, WARNING, judge, parse_range, worse

pytestmark = pytest.mark.usefixtures("no_leftover_children")

CHECK_PROCS = "/usr/lib/nagios/plugins/check_procs"

# A parent that forks `n` children named NAME (prctl PR_SET_NAME: comm, what --filter and check_procs -C see);
# each exits with status 3 and is never waited for, until a line on stdin asks the parent to reap them all.
LEAKER = """
import ctypes, os, sys
name, n = sys.argv[1].encode(), int(sys.argv[2])
kids = []
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)
        os._exit(3)
    kids.append(pid)
print('ready', *kids, flush=True)
if sys.stdin.readline():
    for pid in kids:
        os.waitpid(pid, 0)
    print('reaped', flush=True)
sys.stdin.readline()
"""


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "procwatch", "--check", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=DEADLINE * 3)


def leaker(children, name: str, n: int) -> tuple[subprocess.Popen, list[int]]:
    proc = children.start([sys.executable, "-c", LEAKER, name, str(n)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, exits_on_eof=True)
    words = proc.stdout.readline().split()
    assert words[0] == "ready", words
    kids = [int(pid) for pid in words[1:]]
    for pid in kids:
        wait_until(lambda pid=pid: state_of(pid) == "Z", what=f"child {pid} to be a zombie")
    return proc, kids


def unique_name() -> str:
    return "pwz-" + uuid.uuid4().hex[:8]  # at most 15 bytes: comm keeps it whole


@pytest.mark.parametrize(("text", "value", "alerts"), [
    ("10", -1, True), ("10", 0, False), ("10", 10, False), ("10", 11, True),
    ("10:", 9, True), ("10:", 10, False), ("10:", 1e9, False),
    ("~:10", -1e9, False), ("~:10", 10, False), ("~:10", 11, True),
    ("10:20", 9, True), ("10:20", 10, False), ("10:20", 20, False), ("10:20", 21, True),
    ("@10:20", 9, False), ("@10:20", 10, True), ("@10:20", 20, True), ("@10:20", 21, False),
    ("@1:3", 2, True), ("0", 0, False), ("0", 1, True), ("@0", 0, True), ("@0", 1, False),
    ("5.5", 5, False), ("5.5", 6, True),
])
def test_nagios_range_semantics(text, value, alerts):
    assert parse_range(text).alerts(value) is alerts


def test_range_forms_and_errors():
    assert parse_range("~:3")[:3] == (-math.inf, 3, False)
    assert parse_range("5:")[:3] == (5, math.inf, False)
    assert parse_range("@1:3")[:3] == (1, 3, True)
    for bad in ("", "@", "a", "5:1", "1:2:3", "nan", "~"):
        with pytest.raises(ValueError):
            parse_range(bad)


def test_critical_wins_over_warning():
    assert judge(5, parse_range("3"), parse_range("4")) == CRITICAL
    assert judge(4, parse_range("3"), parse_range("4")) == WARNING
    assert judge(3, parse_range("3"), parse_range("4")) == OK
    assert judge(3, None, None) == OK


def test_results_combine_as_max_state_alt_orders_them():
    """monitoring-plugins' max_state_alt: OK < UNKNOWN < WARNING < CRITICAL (--check --host: a host that cannot be
    read makes an OK unknown, and leaves a WARNING or CRITICAL found elsewhere as it is)."""
    order = [OK, UNKNOWN, WARNING, CRITICAL]
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            assert worse(a, b) == order[max(i, j)]


def test_exit_codes_for_real_zombies_under_a_real_parent(children):
    name = unique_name()
    parent, _ = leaker(children, name, 2)
    base = ("--state", "Z", "--filter", name)
    result = check(*base)
    assert (result.returncode, result.stderr) == (0, "")
    line = result.stdout
    assert line.count("\n") == 1, line
    assert line.startswith(f"PROCS OK: 2 processes with state Z and text '{name}'"), line
    assert f"worst parent {parent.pid} (python" in line
    assert line.rstrip().endswith("| procs=2;;;0; parents=1;;;0;"), line
    result = check(*base, "--warning", "0", "--critical", "10")  # check_procs -s Z -w 0 -c 10
    assert result.returncode == WARNING and result.stdout.startswith("PROCS WARNING: 2 processes"), result.stdout
    assert "procs=2;0;10;0;" in result.stdout
    result = check(*base, "--warning", "0", "--critical", "1")
    assert result.returncode == CRITICAL and result.stdout.startswith("PROCS CRITICAL: 2 processes"), result.stdout
    result = check(*base, "--critical", "@1:3")  # @: alert inside the range
    assert result.returncode == CRITICAL
    result = check(*base, "--critical", "@3:5", "--warning", "~:2")
    assert result.returncode == OK
    parent.stdin.write("reap\n")
    parent.stdin.flush()
    assert parent.stdout.readline().strip() == "reaped"
    result = check(*base, "--warning", "0", "--critical", "10")
    assert result.returncode == OK and result.stdout.startswith("PROCS OK: 0 processes"), result.stdout


def test_per_parent_names_the_worst_leaker(children):
    name = unique_name()
    small, _ = leaker(children, name, 1)
    big, _ = leaker(children, name, 3)
    result = check("--state", "Z", "--filter", name, "--per-parent", "--warning", "2", "--critical", "5")
    assert result.returncode == WARNING, result.stdout
    assert result.stdout.startswith(f"PROCS WARNING: 4 processes with state Z and text '{name}'; worst parent "
                                    f"{big.pid} (python"), result.stdout
    assert "has 3 |" in result.stdout
    assert "procs=4;;;0; worst_parent=3;2;5;0; parents=2;;;0;" in result.stdout
    # Without --per-parent the total is judged: 4 > 2, 4 <= 5.
    assert check("--state", "Z", "--filter", name, "--warning", "2", "--critical", "3").returncode == CRITICAL
    assert small.pid != big.pid


def test_min_age_counts_zombies_that_stay(children):
    """The age is measured (how long since the zombie last ran: /proc/PID/sched), so a fresh zombie does not
    count for --min-age 30, and counts for --min-age 0.5 once half a second has passed."""
    name = unique_name()
    leaker(children, name, 2)
    result = check("--state", "Z", "--filter", name, "--min-age", "30", "--critical", "0")
    if "sched" not in os.listdir("/proc/self"):
        pytest.skip("this kernel has no /proc/PID/sched (CONFIG_SCHED_DEBUG): ages fall back to elapsed time")
    assert result.returncode == OK, result.stdout
    assert result.stdout.startswith("PROCS OK: 0 processes with state Z and text"), result.stdout
    assert "in that state for at least 30s" in result.stdout
    wait_until(lambda: check("--state", "Z", "--filter", name, "--min-age", "0.5", "--critical", "0").returncode
               == CRITICAL, what="the zombies to be half a second old")


def test_ages_are_measured_not_guessed(children):
    """A sleeper started long before it sleeps: its state age is the time since it last ran, well below its
    elapsed time; and it never exceeds the elapsed time."""
    from procwatch.check import state_ages
    from procwatch.engine.collector import ProcfsCollector

    if "sched" not in os.listdir("/proc/self"):
        pytest.skip("no /proc/PID/sched on this kernel")
    name = unique_name()
    _, kids = leaker(children, name, 1)
    snapshot = ProcfsCollector().sweep()
    age = state_ages(snapshot, "/proc")(snapshot.procs[kids[0]])
    elapsed = snapshot.taken_at - snapshot.procs[kids[0]].started
    assert 0 <= age <= elapsed + 0.01
    assert age < DEADLINE


@pytest.mark.parametrize("args", [
    ("--critical", "5:1"), ("--warning", "x"), ("--min-age", "soon"), ("--min-age", "-1"),
    ("--procfs", "/nonexistent"), ("--once",), ("--watch",), ("--columns", "pid"),
])
def test_bad_check_arguments_are_unknown(args):
    result = check(*args)
    assert result.returncode == UNKNOWN, (args, result)
    assert result.stdout.startswith("PROCS UNKNOWN: ") and result.stdout.count("\n") == 1, result.stdout
    assert "Traceback" not in result.stderr


def test_check_flags_without_check_are_usage_errors():
    for args in (["--warning", "1"], ["--per-parent"], ["--min-age", "1"], ["--snapshots"]):
        result = subprocess.run([sys.executable, "-m", "procwatch", "--once", *args], capture_output=True,
                                text=True, cwd=REPO, timeout=DEADLINE * 3)
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, (args, result.stderr)


@pytest.mark.skipif(not os.access(CHECK_PROCS, os.X_OK), reason="check_procs absent: apt-get install "
                    "monitoring-plugins-basic")
def test_same_verdicts_as_check_procs(children):
    """check_procs -s Z -C NAME -w W -c C and procwatch --check --state Z --filter NAME agree on every range."""
    name = unique_name()
    leaker(children, name, 2)
    for warning, critical in (("0", "10"), ("0", "1"), ("5", "10"), ("1:", "2:"), ("@2:2", "@5:9"), ("~:1", "3")):
        theirs = subprocess.run([CHECK_PROCS, "-s", "Z", "-C", name, "-w", warning, "-c", critical],
                                capture_output=True, text=True, timeout=DEADLINE)
        ours = check("--state", "Z", "--filter", name, "--warning", warning, "--critical", critical)
        assert ours.returncode == theirs.returncode, (warning, critical, theirs.stdout, ours.stdout)
        assert theirs.stdout.split(":")[0] == ours.stdout.split(":")[0]  # "PROCS WARNING"
