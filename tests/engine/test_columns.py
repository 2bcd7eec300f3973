"""`--once --columns` against real `ps -o` for processes the test started (ps's names accepted as aliases), the
comm name shown when a process renamed itself, and the cgroup column and filters."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.polling import DEADLINE, wait_until
from support.procs import LIFETIME, PY_THREADS, REPO, cpu_ticks, read_stat, wait_state
from support.ps import ps_field

from procwatch.engine.columns import BY_NAME, COLUMNS, parse_columns, ps_etime, ps_time, renamed
from procwatch.engine.fake import fake_proc
from procwatch.engine.procfs import cgroup_path, read_cgroup
from procwatch.engine.tree import cgroup_unit

pytestmark = pytest.mark.usefixtures("no_leftover_children")

# ps -o keywords, compared exactly, and those compared within a second (clock reads a moment apart).
EXACT = ("ppid", "user", "stat", "ni", "nlwp", "tty", "rss", "vsz", "time", "wchan", "comm")
CLOCKS = ("etime", "start")
RENAMER = ("import ctypes, time\nctypes.CDLL(None).prctl(15, ctypes.c_char_p(b'pw-worker-1'), 0, 0, 0)\n"
           f"print('ready', flush=True)\ntime.sleep({LIFETIME})")


def ours(pid: int, fields: tuple[str, ...]) -> dict[str, str]:
    fields = fields if fields[0] == "pid" else ("pid", *fields)
    result = subprocess.run([sys.executable, "-m", "procwatch", "--once", "--columns", ",".join((*fields, "args")),
                             "--filter", str(pid)], capture_output=True, text=True, cwd=REPO, timeout=DEADLINE * 3)
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split()[: len(fields)] == [BY_NAME[f].header for f in fields]
    line = next(line for line in lines if line.split()[0] == str(pid))
    values = line.split(None, len(fields))
    return dict(zip((*fields, "args"), values, strict=True))


def seconds(clock: str) -> int:
    """[[DD-]hh:]mm:ss -> seconds."""
    days, _, rest = clock.rpartition("-")
    total = 0
    for part in rest.split(":"):
        total = total * 60 + int(part)
    return total + int(days or 0) * 86400


@pytest.mark.parametrize("kind", ["sleep", "threads", "nice", "zombie", "renamed"])
def test_columns_match_ps(children, kind):
    if kind == "sleep":
        proc = children.sleeper()
    elif kind == "threads":
        proc = children.python(PY_THREADS)
    elif kind == "nice":
        proc = children.start(["nice", "-n", "5", "sleep", LIFETIME])
        wait_until(lambda: (read_stat(proc.pid) or ("",))[0] == "sleep", what="nice to exec sleep")
        wait_state(proc.pid, "S")
    elif kind == "zombie":
        proc = children.zombie(3)
    else:
        proc = children.python(RENAMER)
    # ps reads its own clocks: for a child younger than a clock tick it can print a negative elapsed time as a
    # huge one (seen: 38109073018720 s). Compare once ps gives a sane one.
    wait_until(lambda: 0 <= seconds(ps_field(proc.pid, "etime:64")) < 86400, what="ps to see the child's age")
    before = {field: seconds(ps_field(proc.pid, f"{field}:64")) for field in CLOCKS}
    mine = ours(proc.pid, EXACT + CLOCKS)
    after = {field: seconds(ps_field(proc.pid, f"{field}:64")) for field in CLOCKS}
    for field in CLOCKS:  # clocks move: ours, read between two ps runs, lies between them (to the second)
        assert before[field] - 1 <= seconds(mine[field]) <= after[field] + 1, (field, before, mine, after)
    for field in EXACT:
        expected = ps_field(proc.pid, f"{field}:64")
        assert mine[field] == expected, (kind, field, mine[field], expected)
    args = ps_field(proc.pid, "args:4096")
    command = mine["args"].lstrip("├└─│ ")
    if kind in ("threads", "renamed"):  # python -c with newlines: ps prints them as ?, we escape them as \n
        command, args = command.split()[0], args.split()[0]
    assert command.startswith(args), (command, args)
    if kind == "renamed":
        assert mine["comm"] == "pw-worker-1"
        assert mine["args"].endswith("<comm pw-worker-1>")
    else:
        assert "<comm " not in mine["args"]


def test_cpu_and_mem_percent_as_ps_computes_them(children):
    # A child that used some CPU time and now sleeps: its pcpu (CPU time over elapsed time) only falls, and fast
    # while it is young, so ps reads it before and after ours. (While it runs, ours could be above both: a sweep
    # takes the clock when it starts and reads the CPU time of a late pid up to a whole sweep later.)
    busy = children.python(f"import time\nend = time.process_time() + 0.25\nwhile time.process_time() < end: pass\n"
                           f"print('ready', flush=True)\ntime.sleep({LIFETIME})")
    assert cpu_ticks(busy.pid) > 20
    before = float(ps_field(busy.pid, "pcpu"))
    mine = ours(busy.pid, ("pcpu", "pmem"))
    after = float(ps_field(busy.pid, "pcpu"))
    assert min(before, after) - 5 <= float(mine["pcpu"]) <= max(before, after) + 5, (before, mine, after)
    assert abs(float(mine["pmem"]) - float(ps_field(busy.pid, "pmem"))) <= 0.2


def test_ps_formats():
    assert (ps_time(0), ps_time(61), ps_time(86400 + 3661)) == ("00:00:00", "00:01:01", "1-01:01:01")
    assert (ps_etime(5), ps_etime(3600), ps_etime(2 * 86400 + 5)) == ("00:05", "01:00:00", "2-00:00:05")


def test_column_names_and_aliases():
    assert [c.key for c in parse_columns("pid,ppid,stat,args")] == ["pid", "ppid", "stat", "command"]
    assert [c.key for c in parse_columns("PID,%cpu,pmem,etime,nlwp,cmd,comm")] == [
        "pid", "cpu", "mem", "elapsed", "thr", "command", "comm"]
    assert len({c.key for c in COLUMNS}) == len(COLUMNS)
    with pytest.raises(ValueError, match="unknown column 'bogus'"):
        parse_columns("pid,bogus")
    result = subprocess.run([sys.executable, "-m", "procwatch", "--once", "--columns", "pid,bogus"],
                            capture_output=True, text=True, cwd=REPO, timeout=DEADLINE * 3)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and "bogus" in result.stderr


def test_no_header_when_every_column_says_so(children):
    proc = children.sleeper()
    result = subprocess.run([sys.executable, "-m", "procwatch", "--once", "--columns", "pid=,stat=", "--filter",
                             str(proc.pid)], capture_output=True, text=True, cwd=REPO, timeout=DEADLINE * 3)
    assert "PID" not in result.stdout and f"{proc.pid} S" in result.stdout


def test_renamed_is_htops_rule():
    p = fake_proc
    assert not renamed(p(1, 0, "sleep", ["sleep", "9"]))
    assert not renamed(p(1, 0, "python3", ["/usr/bin/python3", "x.py"]))
    assert not renamed(p(1, 0, "bash", ["-bash"]))  # a login shell
    assert not renamed(p(1, 0, "sshd", ["sshd: alice@pts/0"]))  # argv rewritten, comm its prefix
    assert not renamed(p(1, 0, "kworker/0:1"))  # no command line
    assert renamed(p(1, 0, "pw-worker-1", ["python3", "-c", "..."]))


def test_cgroup_paths_and_units(children):
    v2 = "0::/system.slice/ssh.service\n"
    hybrid = "12:memory:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n"
    assert (cgroup_path(v2), cgroup_path(hybrid), cgroup_path("0::/\n"), cgroup_path("")) == (
        "/system.slice/ssh.service", "/docker/abc", "/", "")
    assert cgroup_unit("/system.slice/ssh.service") == "ssh.service"
    assert cgroup_unit("/user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope") == "app-x.scope"
    assert cgroup_unit("/user.slice/user-1000.slice") == "user-1000.slice"
    assert cgroup_unit("/") == "-"
    proc = children.sleeper()
    path = read_cgroup(proc.pid)
    assert path == read_cgroup("self")  # a child stays in its parent's cgroup
    result = subprocess.run([sys.executable, "-m", "procwatch", "--once", "--columns", "pid,unit,cgroup",
                             "--filter", str(proc.pid)], capture_output=True, text=True, cwd=REPO,
                            timeout=DEADLINE * 3)
    line = next(line for line in result.stdout.splitlines() if line.split()[0] == str(proc.pid))
    assert line.split()[1:3] == [cgroup_unit(path), path or "-"]
    unit = cgroup_unit(path)
    for args, shown in ((("--unit", unit), True), (("--unit", "no-such.service"), False),
                        (("--cgroup", path), True), (("--cgroup", "/no/such/cgroup"), False)):
        result = subprocess.run([sys.executable, "-m", "procwatch", "--once", "--json", *args],
                                capture_output=True, text=True, cwd=REPO, timeout=DEADLINE * 3)
        assert (f'"pid": {proc.pid},' in result.stdout) is shown, args


def test_cgroups_are_read_only_when_asked(children):
    """Reading /proc/PID/cgroup costs as much as stat: off until asked; then every process once (idle ones whose
    record is otherwise reused too), then kept."""
    from procwatch.engine.collector import ProcfsCollector

    proc = children.sleeper()
    collector = ProcfsCollector()
    assert collector.sweep().procs[proc.pid].cgroup == ""
    assert collector.sweep().procs[proc.pid].cgroup == ""  # reused as it is
    collector.enable_cgroups()
    expected = read_cgroup(proc.pid)
    assert expected and collector.sweep().procs[proc.pid].cgroup == expected
    assert collector.sweep().procs[proc.pid].cgroup == expected
