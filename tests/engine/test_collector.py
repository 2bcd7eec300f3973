"""The collector against real processes: odd names and command lines, races, permission errors, the psutil path."""

from __future__ import annotations

import contextlib
import gc
import os
import pwd
import signal
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.polling import wait_until
from support.procs import LIFETIME, PY_SLEEP, PY_THREADS, PYTHON, cmdline_of, read_stat, wait_state
from support.ps import ps_stat

import procwatch.engine.procfs as collector_module
from procwatch.engine.collector import ProcfsCollector, UserNames
from procwatch.engine.escape import printable
from procwatch.engine.procfs import parse_argv
from procwatch.engine.procfs import split_stat as parse_stat
from procwatch.engine.stat import format_stat
from procwatch.view.collectors import PsutilCollector

pytestmark = pytest.mark.usefixtures("no_leftover_children")

def test_fields_match_proc_and_ps(children):
    proc = children.sleeper()
    p = ProcfsCollector().sweep().get(proc.pid)
    _comm, fields = read_stat(proc.pid)
    assert (p.pid, p.ppid, p.name, p.state) == (proc.pid, os.getpid(), "sleep", "S")
    assert p.start_ticks == int(fields[19]) and p.identity == (proc.pid, int(fields[19]))
    assert (p.session, p.pgrp, p.tpgid) == (os.getsid(0), os.getpgrp(), int(fields[5]))
    assert p.uid == os.geteuid() and p.user == pwd.getpwuid(os.geteuid()).pw_name
    assert p.argv == ("sleep", LIFETIME) and p.cmdline == f"sleep {LIFETIME}"
    assert p.exit_code == 0 and not p.kernel_thread
    ps_rss = subprocess.run(["ps", "-o", "rss=", "-p", str(proc.pid)], capture_output=True, text=True).stdout
    assert p.rss == int(ps_rss) * 1024 > 0  # VmRSS, as ps shows it (stat field 24 is only an estimate)
    import psutil

    assert abs(p.started - psutil.Process(proc.pid).create_time()) < 0.02


def test_name_with_spaces_and_parentheses(children, tmp_path):
    link = tmp_path / "pw (b) x) y"
    link.symlink_to("/bin/sleep")
    proc = children.start([str(link), LIFETIME])
    wait_state(proc.pid, "S")
    p = ProcfsCollector().sweep().get(proc.pid)
    assert p.name == "pw (b) x) y"
    assert p.argv == (str(link), LIFETIME)
    assert (p.ppid, p.state) == (os.getpid(), "S")  # fields after the name parsed from the last ')'
    assert format_stat(p) == ps_stat(proc.pid)
    assert parse_stat(b"42 (a) b) c) S 1 42 42 0 -1")[0] == "a) b) c"


def test_control_characters_in_name_are_escaped(children, tmp_path):
    link = tmp_path / "pw\x1b[2J\nz"
    link.symlink_to("/bin/sleep")
    proc = children.start([str(link), LIFETIME])
    wait_state(proc.pid, "S")
    p = ProcfsCollector().sweep().get(proc.pid)
    assert p.name == "pw\x1b[2J\nz"
    assert printable(p.name) == "pw\\e[2J\\nz"
    assert "\x1b" not in printable(p.cmdline) and "\n" not in printable(p.cmdline)


def test_non_utf8_command_line(children):
    proc = children.python(PY_SLEEP, b"caf\xe9")
    p = ProcfsCollector().sweep().get(proc.pid)
    assert os.fsencode(p.argv[-1]) == b"caf\xe9"
    with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
        assert b"\0".join(os.fsencode(arg) for arg in p.argv) + b"\0" == f.read()  # byte-exact round trip
    assert printable(p.cmdline).endswith(" caf\\xe9")
    assert parse_argv(b"a\0\0b\0") == ("a", "", "b")  # empty arguments survive


def test_kernel_threads_have_empty_command_line():
    snapshot = ProcfsCollector().sweep()
    kernel = [p for p in snapshot if p.kernel_thread]
    if not kernel:
        pytest.skip("no kernel threads visible (a PID namespace)")
    for p in kernel:
        assert p.argv == () and p.cmdline == f"[{p.name}]"
        assert p.pid == 2 or p.ppid == 2  # kthreadd and its children
    assert not snapshot.get(os.getpid()).kernel_thread
    assert not snapshot.get(1).kernel_thread


def test_zombie_command_line_is_empty_even_when_watched_alive(children):
    collector = ProcfsCollector()
    proc = children.python("import sys\nprint('ready', flush=True)\nsys.stdin.read()\nsys.exit(3)",
                           stdin=subprocess.PIPE)
    alive = collector.sweep().get(proc.pid)
    assert alive.argv[0] == PYTHON and alive.state == "S"
    proc.stdin.close()
    wait_state(proc.pid, "Z")
    for _ in range(2):  # the second sweep reuses the per-identity cache
        zombie = collector.sweep().get(proc.pid)
        assert zombie.identity == alive.identity
        assert (zombie.state, zombie.argv, zombie.exit_code) == ("Z", (), 3 << 8)


def test_exit_code_is_the_pending_wait_status(children):
    exited = children.zombie(3)
    killed = children.sleeper()
    os.kill(killed.pid, signal.SIGKILL)
    wait_state(killed.pid, "Z")
    snapshot = ProcfsCollector().sweep()
    assert snapshot.get(exited.pid).exit_code == children.reap(exited) == 768
    assert snapshot.get(killed.pid).exit_code == children.reap(killed) == signal.SIGKILL


def test_command_line_is_read_again_after_exec(children):
    collector = ProcfsCollector()
    code = "import os, sys\nprint('ready', flush=True)\nsys.stdin.readline()\nos.execv('/bin/sleep', ['sleep', '{}'])"
    proc = children.python(code.format(LIFETIME), stdin=subprocess.PIPE)
    before = collector.sweep().get(proc.pid)
    assert before.argv[0] == PYTHON
    proc.stdin.write(b"exec\n")
    proc.stdin.flush()
    # mid-exec the new comm shows before the new command line (which reads empty meanwhile): wait for both
    wait_until(lambda: (read_stat(proc.pid) or ("",))[0] == "sleep" and cmdline_of(proc.pid)[:1] == [b"sleep"],
               what="the exec")
    after = collector.sweep().get(proc.pid)
    assert after.identity == before.identity
    assert (after.name, after.argv) == ("sleep", ("sleep", LIFETIME))


def test_process_exiting_between_listing_and_reading(children, monkeypatch, capfd):
    collector = ProcfsCollector()
    proc = children.sleeper()
    listed = collector.pids()
    assert proc.pid in listed
    proc.kill()
    proc.wait()
    monkeypatch.setattr(collector, "pids", lambda: listed)
    snapshot = collector.sweep()
    assert proc.pid not in snapshot.procs
    assert snapshot.get(os.getpid()) is not None
    assert capfd.readouterr() == ("", "")  # dropped without noise


def test_process_exiting_between_stat_and_status(children, monkeypatch, capfd):
    """A real race made deterministic: the child dies right after its stat was read."""
    proc = children.sleeper()
    real_read = collector_module.read

    def read_then_kill(path, *args):
        data = real_read(path, *args)
        if path == f"/proc/{proc.pid}/stat" and proc.returncode is None:
            proc.kill()
            proc.wait()
        return data

    monkeypatch.setattr(collector_module, "read", read_then_kill)
    snapshot = ProcfsCollector().sweep()
    assert proc.returncode == -signal.SIGKILL
    assert proc.pid not in snapshot.procs
    assert capfd.readouterr() == ("", "")


def test_permission_errors_give_partial_records(children, monkeypatch):
    proc = children.python(PY_THREADS)
    real_read = collector_module.read

    def denied(path, *args):
        if path.endswith(("/status", "/cmdline")):
            raise PermissionError(13, "Permission denied", path)
        return real_read(path, *args)

    monkeypatch.setattr(collector_module, "read", denied)
    snapshot = ProcfsCollector().sweep()
    p = snapshot.get(proc.pid)
    assert p is not None
    assert (p.state, p.threads, p.ppid) == ("S", 3, os.getpid())  # from stat, which was readable
    assert p.uid == os.geteuid()  # from the owner of /proc/PID instead of status
    assert p.argv == () and p.locked_kb == 0
    assert len(snapshot) > 5  # every other process survived too


def test_unknown_uid_is_shown_numerically():
    names = UserNames()
    assert names(0) == pwd.getpwuid(0).pw_name
    free_uid = next(uid for uid in range(4_000_000, 4_001_000) if not _has_user(uid))
    assert names(free_uid) == str(free_uid)


def _has_user(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


def test_collectors_agree(children):
    kids = [
        children.sleeper(),
        children.sleeper(start_new_session=True),
        children.sleeper(preexec_fn=lambda: os.nice(5)),
        children.python(PY_THREADS),
    ]
    stopped = children.sleeper()
    os.kill(stopped.pid, signal.SIGSTOP)
    wait_state(stopped.pid, "T")
    kids.append(stopped)
    zombie = children.zombie(3)
    kids.append(zombie)
    fields = ("pid", "ppid", "uid", "user", "state", "nice", "threads", "session", "pgrp", "name", "argv",
              "kernel_thread", "rss")
    procfs, portable = ProcfsCollector().sweep(), PsutilCollector().sweep()
    for kid in kids:
        a, b = procfs.get(kid.pid), portable.get(kid.pid)
        assert a is not None and b is not None
        assert {f: getattr(a, f) for f in fields} == {f: getattr(b, f) for f in fields}
        assert abs(a.started - b.started) < 0.02
    # and on every process, for the fields that did not move between a procfs sweep before and one after
    after = ProcfsCollector().sweep()
    # the command line as ps shows it, not argv: for a process that rewrote its title with spaces and no NUL
    # (sshd's "[listener] 0 of 10-100 startups"), psutil splits the text at the spaces and /proc has one string
    stable = {"pid", "ppid", "uid", "user", "nice", "session", "pgrp", "name", "cmdline", "kernel_thread"}

    def fields_of(p):
        return {f: getattr(p, f) for f in stable}

    compared = 0
    for pid, a in procfs.procs.items():
        b, c = portable.get(pid), after.get(pid)
        if b is None or c is None or c.identity != a.identity or fields_of(c) != fields_of(a):
            continue
        if len(a.name) >= 15:  # psutil completes a truncated comm from the command line
            continue
        assert fields_of(a) == fields_of(b), pid
        compared += 1
    assert compared > 20


def test_cpu_percent_of_a_busy_child(children):
    busy = children.python("import time\nprint('ready', flush=True)\nend = time.time() + 30\n"
                           "while time.time() < end: pass", state=None)
    idle = children.sleeper()
    collector = ProcfsCollector()
    first = collector.sweep()
    assert first.get(busy.pid).cpu_percent == 0.0  # nothing to compare with yet
    ticks = first.get(busy.pid).cpu_ticks
    wait_until(lambda: cpu_ticks(busy.pid) >= ticks + 10, what="the busy child to use 10 clock ticks")
    second = collector.sweep()
    assert 0 < second.get(busy.pid).cpu_percent <= 100 * os.cpu_count() + 5
    assert second.get(idle.pid).cpu_percent == 0.0


def cpu_ticks(pid: int) -> int:
    fields = read_stat(pid)[1]
    return int(fields[11]) + int(fields[12])


def test_caches_hold_only_live_identities(children):
    collector = ProcfsCollector()
    for _ in range(5):
        kid = children.sleeper()
        snapshot = collector.sweep()
        assert kid.pid in snapshot.procs
        kid.kill()
        kid.wait()
    snapshot = collector.sweep()
    assert collector._seen.keys() == snapshot.procs.keys()  # the cache holds only this sweep's processes



@given(st.binary(max_size=15).filter(lambda b: b"\0" not in b), st.sampled_from("RSDTtZXI"))
def test_parse_stat_takes_the_name_up_to_the_last_parenthesis(comm, state):
    # fields 1..52 of a real line
    raw = b"4242 (" + comm + b") " + state.encode() + b" 1 4242 4242 0 -1 4194560 " + b"0 " * 42 + b"0\n"
    name, fields = parse_stat(raw)
    assert os.fsencode(name) == comm
    assert fields[0] == state.encode() and fields[1] == b"1" and len(fields) == 50


@given(st.text())
def test_printable_leaves_no_control_characters(text):
    shown = printable(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF for c in shown)
    shown.encode("utf-8")  # always writable to a UTF-8 terminal


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp"))))
def test_printable_leaves_ordinary_text_alone(text):
    assert printable(text) == text


def open_stat_files() -> list[str]:
    """The /proc/PID/stat files this process has open."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("/proc/") and target.endswith("/stat"):
                found.append(target)
    return found


def test_kept_stat_files_give_fresh_lines_and_close_with_their_process(children):
    """The TUI's collector keeps /proc/PID/stat open and reads it again with pread: the line must be the kernel's
    current one (a busy child's CPU time moves, a stopped child shows T, a zombie Z), and a descriptor must be
    closed once its process is reaped (no leak however many processes come and go)."""
    collector = ProcfsCollector(keep_open=True)
    busy = children.python("import time\nprint('ready', flush=True)\nend = time.time() + 30\n"
                           "while time.time() < end: pass", state=None)
    kid = children.sleeper()
    first = collector.sweep()
    kept = len(collector._stat_files)
    assert kept == len(first.procs) or kept == collector._stat_files.budget
    assert len(open_stat_files()) == kept  # (readlink names the file of each descriptor)
    ticks = first.get(busy.pid).cpu_ticks
    wait_until(lambda: cpu_ticks(busy.pid) >= ticks + 10, what="the busy child to use 10 clock ticks")
    assert collector.sweep().get(busy.pid).cpu_ticks >= ticks + 10
    os.kill(kid.pid, signal.SIGSTOP)  # our own child
    wait_state(kid.pid, "T")
    assert collector.sweep().get(kid.pid).state == "T"
    kid.kill()
    wait_state(kid.pid, "Z")
    assert collector.sweep().get(kid.pid).state == "Z"  # a zombie's stat is still there to read
    kid.wait()
    busy.kill()
    busy.wait()
    snapshot = collector.sweep()
    assert kid.pid not in snapshot.procs and busy.pid not in snapshot.procs
    assert collector._stat_files._fds.keys() <= snapshot.procs.keys()  # only live processes keep one
    assert f"/proc/{kid.pid}/stat" not in open_stat_files()
    del collector
    gc.collect()
    assert open_stat_files() == []  # a collector let go of closes them all


def test_a_kept_descriptor_that_fails_is_opened_again(children, monkeypatch):
    """A descriptor outlives its process: once that one is reaped, pread fails (ESRCH) and the pid may belong to a
    new process by now; the pid is opened afresh, not dropped. Made deterministic by failing one pread."""
    kid = children.sleeper()
    files = collector_module.KeptStatFiles(budget=1000)
    files.begin()
    first = files.read(kid.pid)
    files.end()
    stale = files._fds[kid.pid]
    real_pread = collector_module._pread

    failed = []

    def pread(fd, size, offset):
        if fd == stale and not failed:  # once: the new descriptor may get the same number
            failed.append(fd)
            raise ProcessLookupError(3, "No such process")
        return real_pread(fd, size, offset)

    monkeypatch.setattr(collector_module, "_pread", pread)
    files.begin()
    assert files.read(kid.pid) == first  # the same sleeping child, read through a new descriptor
    files.end()
    assert failed
    assert kid.pid in files._fds
    files.close()
    assert open_stat_files() == []


def test_kept_stat_files_stay_within_their_budget(children):
    kids = [children.sleeper() for _ in range(3)]
    collector = ProcfsCollector(keep_open=True)
    collector._stat_files.budget = 2
    snapshot = collector.sweep()
    assert all(kid.pid in snapshot.procs for kid in kids)  # the others are read the plain way
    assert len(collector._stat_files) == 2
    collector._stat_files.close()


def test_a_low_descriptor_limit_keeps_none_and_still_sweeps(children):
    """Where the hard RLIMIT_NOFILE leaves no room, nothing is kept and every process is still read."""
    code = ("import os, resource\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))\n"
            "from procwatch.engine.collector import ProcfsCollector\n"
            "c = ProcfsCollector(keep_open=True)\n"
            "s = c.sweep(); s = c.sweep()\n"
            "print(c._stat_files.budget, len(c._stat_files), os.getpid() in s.procs, os.getppid() in s.procs)")
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["0", "0", "True", "True"]


def test_kept_descriptors_leave_the_numbers_select_can_take(children):
    """select() refuses descriptors of 1024 and more: the kept ones are numbered above that, so a pipe opened
    while thousands are kept still gets a low number (the TUI's input thread and libraries use select)."""
    children.sleeper()
    collector = ProcfsCollector(keep_open=True)
    if not collector._stat_files.budget:
        pytest.skip("the descriptor limit leaves no room to keep any here")
    collector.sweep()
    kept = collector._stat_files._fds.values()
    assert kept and min(kept) >= collector._stat_files.FLOOR
    read_end, write_end = os.pipe()
    try:
        assert max(read_end, write_end) < 1024
    finally:
        os.close(read_end)
        os.close(write_end)
    collector._stat_files.close()
