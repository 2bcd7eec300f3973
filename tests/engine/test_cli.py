"""The headless CLI as a user runs it: `python -m procwatch` in a subprocess."""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys

import pytest
from support.polling import DEADLINE
from support.procs import LIFETIME, PY_SLEEP, PY_THREADS, REPO, wait_state
from support.ps import ps_field, ps_stat

from procwatch import __version__
from procwatch.cli import build_parser

pytestmark = pytest.mark.usefixtures("no_leftover_children")


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("cwd", REPO)
    return subprocess.run([sys.executable, "-m", "procwatch", *args], capture_output=True, text=True,
                          timeout=DEADLINE * 3, errors="surrogateescape", **kwargs)


def run_json(*args: str, **kwargs) -> list[dict]:
    result = run("--once", "--json", *args, **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def by_pid(objects: list[dict]) -> dict[int, dict]:
    return {o["pid"]: o for o in objects}


def test_once_prints_the_tree_with_markers(children):
    zombie = children.zombie(3)
    result = run("--once")
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["PID", "USER", "STAT", "COMMAND"]
    assert len(lines) > 20
    mine = next(line for line in lines if line.split()[0] == str(os.getpid()))
    assert "<not reaping 1 zombie>" in mine  # the same words as the TUI's marker
    zombie_line = next(line for line in lines if line.split()[0] == str(zombie.pid))
    assert zombie_line.split()[2] == "Z"
    assert "<zombie" in zombie_line and "exit 3" in zombie_line
    assert "─ [sh] <defunct>  <" in zombie_line  # under its parent, with no command line: [comm] <defunct> as ps
    assert "[sh] <defunct>" in ps_field(zombie.pid, "args")


def test_once_escapes_control_characters(children, tmp_path):
    link = tmp_path / "pw\x1b]0;pwned\x07"
    link.symlink_to("/bin/sleep")
    proc = children.start(["\x1b[2J\x9b31m", LIFETIME], executable=str(link))  # argv[0] is free text
    wait_state(proc.pid, "S")
    result = run("--once", "--filter", str(proc.pid))
    line = next(line for line in result.stdout.splitlines() if line.split()[0] == str(proc.pid))
    assert "─ \\e[2J\\x9b31m 60" in line
    assert not any(c in result.stdout for c in "\x1b\x07\x9b")
    o = by_pid(run_json("--filter", str(proc.pid)))[proc.pid]
    assert (o["name"], o["argv"]) == ("pw\x1b]0;pwned\x07", ["\x1b[2J\x9b31m", LIFETIME])  # JSON: exact


def test_json_contract(children):
    zombie = children.zombie(3)
    objects = run_json()
    assert len(objects) > 20
    types = {"pid": int, "ppid": int, "user": str, "stat": str, "state": str, "name": str, "cmdline": str,
             "zombie": bool, "orphan": bool, "depth": int, "context": bool}
    for o in objects:
        for key, kind in types.items():
            assert type(o[key]) is kind, (key, o)
        assert o["orphan_evidence"] is None or isinstance(o["orphan_evidence"], str)
        assert o["orphan"] == (o["orphan_evidence"] is not None)
        assert o["zombie"] == o["stat"].startswith("Z") and not o["context"]
    procs = by_pid(objects)
    z = procs[zombie.pid]
    assert (z["zombie"], z["state"], z["stat"], z["cmdline"], z["exit_status"]) == (
        True, "zombie", "Z", "", "exit 3")
    assert z["ppid"] == os.getpid() and procs[os.getpid()]["unreaped_children"] == 1
    assert z["depth"] == procs[os.getpid()]["depth"] + 1
    assert procs[1]["depth"] == 0


def test_json_command_line_round_trips(children):
    proc = children.python(PY_SLEEP, b"caf\xe9", "two words")
    objects = by_pid(run_json("--filter", str(proc.pid)))
    o = objects[proc.pid]
    assert not o["context"]
    with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
        raw = f.read()
    assert [os.fsencode(arg) for arg in o["argv"]] == raw.rstrip(b"\0").split(b"\0")
    assert os.fsencode(o["cmdline"]) == raw.rstrip(b"\0").replace(b"\0", b" ")
    assert o["cmdline"].endswith(" caf\udce9 two words")
    assert objects[os.getpid()]["context"] and objects[1]["context"]  # its ancestors, kept for context
    text = run("--once", "--filter", str(proc.pid)).stdout
    assert "caf\\xe9 two words" in text


def test_kernel_thread_json_has_empty_cmdline():
    objects = run_json("--state", "I")
    kernel = [o for o in objects if not o["context"]]
    if not kernel:
        pytest.skip("no idle kernel threads visible")
    assert all(o["cmdline"] == "" and o["kernel_thread"] and o["stat"].startswith("I") for o in kernel)


def test_filters_on_the_command_line(children):
    zombie = children.zombie(3)
    zombies = run_json("--state", "Z")
    assert zombie.pid in {o["pid"] for o in zombies if not o["context"]}
    assert all(o["zombie"] for o in zombies if not o["context"])
    me = pwd.getpwuid(os.geteuid()).pw_name
    for users in (me, str(os.geteuid()), f"{me},{me}"):
        objects = run_json("--user", users)
        assert objects and all(o["user"] == me for o in objects if not o["context"])
    none = run_json("--user", me, "--state", "Z", "--filter", "no-such-process-name-xyz")
    assert none == []
    by_name = run_json("--sort", "name")
    assert {o["pid"] for o in by_name} >= {1, os.getpid()}


BAD = [
    ["--once", "--state", "Q"],
    ["--once", "--state", ""],
    ["--once", "--interval", "0"],
    ["--once", "--interval", "-1"],
    ["--once", "--interval=-1"],
    ["--once", "--interval", "nan"],
    ["--once", "--interval", "inf"],
    ["--once", "--interval", "abc"],
    ["--once", "--user", "nosuchuser"],
    ["--once", "--user", "root,"],
    ["--once", "--sort", "bogus"],
    ["--json"],
    ["--once", "--no-such-flag"],
    ["--once", "--state"],
    ["--once", "stray-argument"],
    ["--once", "--lang", "fr"],
    ["--once", "--lang", ""],
    ["--once", "--lesson"],
    ["--lesson", "--no-sandbox"],
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_values_give_one_line_and_status_2(args):
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.endswith("\n"), result.stderr
    assert result.stderr.startswith("procwatch: ") and "Traceback" not in result.stderr


def test_version():
    result = run("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"procwatch {__version__}")


def test_help_lists_every_flag():
    result = run("--help")
    assert result.returncode == 0
    flags = [flag for action in build_parser()._actions for flag in action.option_strings if flag.startswith("--")]
    assert {"--once", "--json", "--user", "--state", "--filter", "--interval", "--sort", "--version"} <= set(flags)
    for flag in flags:
        assert flag in result.stdout, flag
    for action in build_parser()._actions:
        assert action.help, f"{action.option_strings} has no description"


def test_main_writes_to_the_current_stdout(capsys):
    from procwatch.cli import main

    assert main(["--once", "--filter", str(os.getpid())]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["PID", "USER", "STAT", "COMMAND"]
    assert any(line.split()[0] == str(os.getpid()) for line in out.splitlines()[1:])


NOBODY = 65534


def _as_nobody(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=DEADLINE * 3, cwd=REPO, user=NOBODY,
                          group=NOBODY, extra_groups=[], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})


def _python_for_nobody() -> str | None:
    """An interpreter uid 65534 can run that finds procwatch (from the repository, the working directory):
    the test's own, else the system python3 (`--once` needs nothing outside the standard library)."""
    for python in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            probe = _as_nobody([python, "-c", "import sys, procwatch.cli; assert sys.version_info >= (3, 10)"])
        except OSError:  # cannot execute it (e.g. it lives under a private home directory)
            continue
        if probe.returncode == 0:
            return python
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="already unprivileged: the other tests cover it")
def test_unprivileged_user_sees_everything(children):
    python = _python_for_nobody()
    if python is None:
        pytest.skip(f"uid {NOBODY} cannot read the repository")
    # root's processes in every state whose letters need more than /proc/PID/stat (threads, nice, zombie, stopped)
    kids = [children.sleeper(), children.sleeper(preexec_fn=lambda: os.nice(5)), children.python(PY_THREADS),
            children.zombie(3), children.sleeper()]
    os.kill(kids[-1].pid, signal.SIGSTOP)  # our own child
    wait_state(kids[-1].pid, "T")
    result = _as_nobody([python, "-m", "procwatch", "--once", "--json"])
    assert result.returncode == 0, result.stderr
    objects = by_pid(json.loads(result.stdout))
    assert objects[1]["user"] == "root"
    assert sum(o["user"] == "root" for o in objects.values()) > 10
    try:
        nobody = pwd.getpwuid(NOBODY).pw_name
    except KeyError:
        nobody = str(NOBODY)
    assert any(o["user"] == nobody and "procwatch" in o["cmdline"] for o in objects.values())  # itself
    # STAT as ps (as root) prints it, for processes that stay as they are: ours (the machine's others may change
    # between any two reads)
    shown = {kid.pid: objects[kid.pid]["stat"] for kid in kids}
    assert shown == {kid.pid: ps_stat(kid.pid) for kid in kids}, f"STAT as uid {NOBODY} differs from ps"
    assert [stat.rstrip("+") for stat in shown.values()] == ["S", "SN", "Sl", "Z", "T"]


def test_once_speaks_the_chosen_language_and_json_stays_english(children):
    zombie = children.zombie(3)
    zh = run("--once", "--lang", "zh", "--filter", str(zombie.pid))
    assert zh.returncode == 0 and "<僵尸进程, 退出码 3>" in zh.stdout
    environ = {k: v for k, v in os.environ.items() if k not in ("PROCWATCH_LANG", "LC_ALL", "LC_MESSAGES")}
    from_locale = run("--once", "--filter", str(zombie.pid), env={**environ, "LANG": "zh_CN.UTF-8"})
    assert "<僵尸进程, 退出码 3>" in from_locale.stdout
    as_json = json.loads(run("--once", "--json", "--lang", "zh", "--filter", str(zombie.pid)).stdout)
    assert [o["exit_status"] for o in as_json if o["pid"] == zombie.pid] == ["exit 3"]
