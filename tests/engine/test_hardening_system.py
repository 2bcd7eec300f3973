"""Hardening against the real system (issue 6): hostile names and command lines of real processes (--once, --json
and the TUI), a fork storm while the TUI runs, /proc mounted hidepid=2 in a private mount namespace, and bad
command-line input. Every process started here is killed and reaped, whatever the outcome."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

import pytest
from rich.cells import cell_len
from support.polling import DEADLINE
from support.procs import LIFETIME, REPO, read_stat, wait_state
from support.tui import applied, row_text, selected_details, shown_pids, table, wait_for

from procwatch.ui.app import make_app
from procwatch.ui.widgets.process_table import COMMAND_COLUMN

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
from churn_stress import MARKER, ForkStorm

pytestmark = pytest.mark.usefixtures("no_leftover_children")

HOSTILE_COMM = "[b]x\x1b[31m[i]"  # markup and an escape sequence, 12 bytes: kept whole in comm (no "/" in a file name)
BIG = "A" * (128 * 1024 - 1)  # the longest single argument Linux accepts (MAX_ARG_STRLEN counts the NUL)
HOSTILE_ARGS = [
    "[@click=app.quit]", "[link=https://x]y[/link]", "\x1b[31mred", "\x1b]52;c;SGVsbG8=\x07", "line1\nline2",
    "tab\there", "zero\u200bwidth", "漢字テスト", "emoji🙂🎉", os.fsdecode(b"caf\xe9"), "", BIG,
]
ESCAPED = ("[@click=app.quit] [link=https://x]y[/link] \\e[31mred \\e]52;c;SGVsbG8=\\x07 line1\\nline2 tab\\there "
           "zero\\u200bwidth 漢字テスト emoji🙂🎉 caf\\xe9  AAAA")
CODE = f"import time; time.sleep({LIFETIME})"


def python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("cwd", REPO)
    return subprocess.run([sys.executable, "-m", "procwatch", *args], capture_output=True, text=True,
                          errors="surrogateescape", timeout=DEADLINE * 3, **kwargs)


@pytest.fixture
def hostile(children, tmp_path):
    """A real process whose comm is markup plus an escape sequence (a symlink to the interpreter) and whose argv
    holds every hostile string of the issue, a 128 KiB argument and an empty one."""
    link = tmp_path / HOSTILE_COMM
    link.symlink_to(os.path.realpath(sys.executable))
    proc = children.start(["[b]x[/b]", "-c", CODE, *HOSTILE_ARGS], executable=str(link))
    wait_state(proc.pid, "S")
    assert read_stat(proc.pid)[0] == HOSTILE_COMM
    return proc


def proc_cmdline(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().rstrip(b"\0").split(b"\0")


# ---------------------------------------------------------------------------------------------------------------
# Hostile names and command lines of real processes
# ---------------------------------------------------------------------------------------------------------------

def test_hostile_process_once_is_escaped_and_json_is_exact(hostile):
    result = python("--once", "--filter", str(hostile.pid))
    assert result.returncode == 0 and result.stderr == ""
    out = result.stdout
    bad = sorted({f"U+{ord(c):04X}" for c in out if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F
                  or c in "\u200b\udce9"})
    assert not bad, f"raw control or invisible characters reach the terminal: {bad}"
    lines = [line for line in out.splitlines() if str(hostile.pid) in line.split()[:1]]
    assert len(lines) == 1, "the process must be one line (an embedded newline would split it)"
    line = lines[0]
    assert f"[b]x[/b] -c {CODE} {ESCAPED}" in line
    assert line.endswith(BIG) or BIG in line  # not a tty: nothing is cut
    # JSON is exact: name and argv byte for byte, through os.fsencode
    objects = {o["pid"]: o for o in json.loads(python("--once", "--json", "--filter", str(hostile.pid)).stdout)}
    o = objects[hostile.pid]
    assert o["name"] == HOSTILE_COMM
    assert [os.fsencode(arg) for arg in o["argv"]] == proc_cmdline(hostile.pid)
    assert o["argv"][3:] == HOSTILE_ARGS
    assert os.fsencode(o["cmdline"]) == b" ".join(proc_cmdline(hostile.pid))


def test_filter_with_control_characters_matches_raw_text_and_prints_escaped(hostile):
    # Every process shown (not as context) has the raw text in its command line, shown escaped: procwatch itself
    # (its own filter), the hostile process, and whatever else has it (another run of this suite on the machine).
    result = python("--once", "--filter", "\x1b]52;c;SGVsbG8=\x07")  # an OSC 52 clipboard write as the filter
    assert result.returncode == 0 and result.stderr == ""
    matches = [line for line in result.stdout.splitlines()[1:] if "<context" not in line]
    assert all("\\e]52;c;SGVsbG8=\\x07" in line for line in matches), matches
    assert str(hostile.pid) in [line.split()[0] for line in matches]
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    empty = python("--once", "--filter", "\x1b[2J\x9b\n[b]no-such[/b]")
    assert (empty.returncode, empty.stderr) == (0, "")
    matches = [line for line in empty.stdout.splitlines()[1:] if "<context" not in line]
    assert all("\\e[2J\\x9b\\n[b]no-such[/b]" in line for line in matches), matches
    assert any("-m procwatch --once --filter \\e[2J\\x9b\\n[b]no-such[/b]" in line for line in matches)  # itself
    assert not any(c in empty.stdout for c in "\x1b\x9b")


async def test_hostile_process_in_the_tui_is_literal_aligned_and_inert(hostile):
    app = make_app(interval=0.25, sandbox=False)
    async with app.run_test(size=(220, 40)) as pilot:
        await wait_for(pilot, lambda: hostile.pid in shown_pids(app), what="the hostile process row")
        t = table(app)
        text = row_text(app, hostile.pid)
        assert f"[b]x[/b] -c {CODE} {ESCAPED}" in text
        assert not any(c in text for c in "\x1b\x07\n\t\u200b\udce9")
        row = next(r for r in t.rows if r.proc.pid == hostile.pid)
        assert cell_len(text[: text.index(row.guide + "[b]x[/b] -c")]) == COMMAND_COLUMN
        assert t.select_pid(hostile.pid)
        await pilot.pause()
        width = t.scrollable_content_region.width
        for y in range(t.scrollable_content_region.height):
            strip = t.render_line(y)
            assert strip.cell_length == width and cell_len(strip.text) == width, y
        # click right on the "[@click=app.quit]" text: it selects the row, nothing is run
        y = 1 + t.cursor_index - round(t.scroll_y)
        x = COMMAND_COLUMN + len(row.guide) + len(f"[b]x[/b] -c {CODE} [@cli")
        assert x < width
        await pilot.click(t, offset=(x, y))
        await pilot.pause(0.3)
        assert app.is_running and app.return_code is None
        assert t.selected.pid == hostile.pid
        assert "[b]x\\e[31m[i]" in selected_details(app) and BIG in selected_details(app)


# ---------------------------------------------------------------------------------------------------------------
# Churn: a fork storm while the real app runs
# ---------------------------------------------------------------------------------------------------------------

def alive(identity: tuple[int, int]) -> bool:
    stat = read_stat(identity[0])
    return stat is not None and int(stat[1][19]) == identity[1]


async def test_fork_storm_while_the_tui_runs():
    app = make_app(interval=0.25, sandbox=False)
    checks = {"shows": 0, "exits": []}
    problems: list[str] = []
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
        t = table(app)
        real_show = t.show

        def checked_show(rows, observations, *args, **kwargs):
            before = t.cursor
            real_show(rows, observations, *args, **kwargs)
            checks["shows"] += 1
            pids = [r.proc.pid for r in rows]
            if len(pids) != len(set(pids)):
                problems.append(f"a pid shown twice: {sorted(p for p in set(pids) if pids.count(p) > 1)[:5]}")
            procs = observations.snapshot.procs
            live = {p.identity for p in procs.values()}
            if t.cursor is not None and t.cursor not in live:
                problems.append(f"cursor on {t.cursor}, not in the snapshot")
            if before is not None and before not in live:
                if t.cursor == before:
                    problems.append(f"cursor stayed on the exited {before}")
                checks["exits"].append(before)

        t.show = checked_show
        said: list[str] = []  # every notice (they expire from the screen after a few seconds)
        real_notify = app.notify

        def recording_notify(message, *args, **kwargs):
            said.append(str(message))
            return real_notify(message, *args, **kwargs)

        app.notify = recording_notify
        lineage = app.poller.lineage
        real_observe = lineage.observe
        sizes: list[tuple[int, int]] = []  # (identities remembered, processes swept), at every sweep

        def observe_and_count(snapshot):
            observations = real_observe(snapshot)
            sizes.append((len(lineage), len(snapshot)))
            return observations

        lineage.observe = observe_and_count  # in the poller thread, right after each observation
        with ForkStorm(rate=300, max_seconds=30) as storm:
            started = time.monotonic()
            # 6 s of storm at least, and until the table refreshed 8 times and the cursor's process exited under it
            # (a loaded machine refreshes less often than every 0.25 s)
            while time.monotonic() - started < 6 or checks["shows"] < 8 or not checks["exits"]:
                assert time.monotonic() - started < 25, f"too few refreshes or exits under the storm: {checks}"
                await pilot.pause(0.2)
                storm_rows = [r.proc.pid for r in t.rows if r.proc.cmdline.startswith(MARKER)]
                if storm_rows:
                    t.select_pid(storm_rows[-1])  # put the cursor on a short-lived process
            spawned = storm.stop()
        stopped = time.time()
        assert spawned and spawned > 300, f"the storm spawned only {spawned} processes"
        await wait_for(pilot, lambda: app.last.observations.snapshot.taken_at > stopped and app.last.swept
                       and t.rows is app.last.rows, what="one refresh after the storm")
        await pilot.pause()
        assert app.is_running and app._exception is None
        assert not [n for n in said if "sweep failed" in n]
        assert not problems, problems[:10]
        assert checks["shows"] >= 8 and checks["exits"], checks
        # every exit of the selected process was announced, with where the cursor went
        notes = said
        for pid, _ in checks["exits"]:
            assert any(n.startswith(f"process {pid} (") and ("exited; cursor moved to" in n or "was reaped; cursor moved to" in n)
                       for n in notes), (pid, checks["exits"], notes)
        # no stale rows beyond one refresh: no process of this storm (its process group; another run's storm on
        # this machine is not ours to judge), and /proc agrees with what is shown
        rows = [r for r in t.rows if not t.ended(r.proc)]  # ended ones stay a moment, dimmed, marked as such
        assert not [r.proc.pid for r in rows if r.proc.pgrp == storm.proc.pid
                    and (MARKER in r.proc.cmdline or r.proc.name == "sleep")]
        # every live row is a process of the snapshot the rows were built from (not /proc read later: on a busy
        # machine, processes go between the sweep and any look of ours)
        shown = app.last.observations.snapshot.procs
        stale = [r.proc.pid for r in rows if r.proc is not shown.get(r.proc.pid)]
        assert not stale, f"rows of processes that snapshot does not have: {stale[:20]}"
        # memory only for live identities, at every sweep (counted in the poller thread: app.last may be a sweep
        # behind the lineage by now)
        assert sizes and all(remembered == swept for remembered, swept in sizes), sizes[:10]


# ---------------------------------------------------------------------------------------------------------------
# Permissions: /proc mounted hidepid=2, as an unprivileged user
# ---------------------------------------------------------------------------------------------------------------

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"


def _hidepid_run(args: list[str]) -> subprocess.CompletedProcess:
    script = ('mount -t proc -o hidepid=2 proc /proc || exit 97\n'
              f'exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups -- "$@"')
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--fork", "sh", "-c", script, "sh",
                           *args], capture_output=True, text=True, errors="surrogateescape", timeout=DEADLINE * 3,
                          cwd=REPO, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})


def test_hidepid_lists_only_own_processes_and_says_so():
    if os.geteuid() != 0:
        pytest.skip("needs root to make a private mount namespace with /proc mounted hidepid=2")
    if not (shutil.which("unshare") and shutil.which("setpriv")):
        pytest.skip("unshare or setpriv (util-linux) is not installed")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{SYSTEM_PYTHON} is missing (the venv interpreter under /root is not readable by uid {NOBODY})")
    probe = _hidepid_run([SYSTEM_PYTHON, "-c", "import sys, procwatch.cli; assert sys.version_info >= (3, 10)"])
    if probe.returncode == 97 or "unshare failed" in probe.stderr or "Operation not permitted" in probe.stderr:
        pytest.skip(f"cannot mount /proc hidepid=2 in a private mount namespace here: {probe.stderr.strip()}")
    if probe.returncode != 0:
        pytest.skip(f"uid {NOBODY} cannot run procwatch with {SYSTEM_PYTHON}: {probe.stderr.strip()[-200:]}")
    result = _hidepid_run([SYSTEM_PYTHON, "-m", "procwatch", "--once", "--json"])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "only your own processes are visible" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    objects = json.loads(result.stdout)
    assert objects, "an empty list: not even procwatch itself"
    assert {o["uid"] for o in objects} == {NOBODY}, sorted({(o["pid"], o["uid"]) for o in objects})
    assert any("procwatch" in o["cmdline"] for o in objects)  # itself
    assert 1 not in {o["pid"] for o in objects}
    text = _hidepid_run([SYSTEM_PYTHON, "-m", "procwatch", "--once"])
    assert text.returncode == 0 and "only your own processes are visible" in text.stderr
    assert len(text.stdout.splitlines()) == len(objects) + 1 or len(text.stdout.splitlines()) > 1
    # and outside the namespace nothing changed: root still sees init
    assert os.path.exists("/proc/1/stat")


# ---------------------------------------------------------------------------------------------------------------
# Bad command-line input (tests/test_cli.py covers --state, --interval 0/-1/nan/inf/abc, --user unknown/trailing
# comma, --sort bogus, --json alone, unknown flags, a missing value and a stray argument)
# ---------------------------------------------------------------------------------------------------------------

BAD = [
    ["--once", "--interval", "3601"],
    ["--once", "--interval", "1e400"],
    ["--once", "--interval", "0x10"],
    ["--once", "--user", ""],
    ["--once", "--user", " , "],
    ["--once", "--sort", ""],
    ["--once", "--sort", "PID"],
    ["--once", "--state", "z"],
    ["--once", "--state", "R,S"],
    ["--once", "--filter"],
    ["--theme", "nosuch"],
    ["--theme", "nosuch", "--no-sandbox", "--interval", "0.5"],
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) or "''" for a in BAD])
def test_more_bad_values_give_one_line_and_status_2(args):
    result = python(*args, stdin=subprocess.DEVNULL)  # stdin and stdout are not a terminal
    assert result.returncode == 2, (result.returncode, result.stderr[-300:])
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("procwatch: "), result.stderr
    assert "Traceback" not in result.stderr


def run_in_pty(args: list[str], seconds: float = 5) -> tuple[int | None, bytes]:
    """procwatch on a real pseudo-terminal; (exit status or None when still running after `seconds`, output).
    The child is killed and reaped in any case."""
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="100", LINES="30", TEXTUAL_ANIMATIONS="none")
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir(REPO)
            os.execve(sys.executable, [sys.executable, "-m", "procwatch", *args], env)
        finally:
            os._exit(127)
    output = bytearray()
    status = None
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                output += chunk
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
                break
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)  # our own child, unreaped
            os.waitpid(pid, 0)
        try:
            while select.select([fd], [], [], 0.05)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                output += chunk
        except OSError:
            pass
        os.close(fd)
    return status, bytes(output)


def test_unknown_theme_on_a_terminal_is_one_line_and_the_tui_never_starts():
    status, output = run_in_pty(["--theme", "nosuch"])
    assert status == 2
    text = output.decode(errors="replace")
    assert "\x1b[?1049h" not in text, "the TUI started (alternate screen) before refusing the theme"
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("procwatch: --theme: unknown theme 'nosuch'"), text


def test_empty_theme_is_refused():
    status, output = run_in_pty(["--theme", "", "--no-sandbox"], seconds=4)
    assert status == 2, f"still running after 4 s (the TUI started): {output[:80]!r}"


def test_bad_theme_with_once_is_refused():
    result = python("--once", "--theme", "nosuch", stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
