"""The fallback for a remote without Python 3.10: `ps` output read into ProcInfo records. Standard library only.

The remote runs, every interval, `LC_ALL=C TZ=UTC0 ps -wweo <PS_FIELDS>` then prints END_MARK. What ps cannot
give (see the catalogue's remote.ps_fallback): the pending exit status of a zombie, the amount of locked memory (only the L
flag), comm (the name is taken from argv), start times finer than a second, and a pidfd-checked signal.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable

from procwatch.engine.model import ProcInfo
from procwatch.engine.wire import MAX_ARGV, MAX_NAME, STATE_CHARS, WireError

# Every column but the last has no spaces; lstart is five words; args is the rest of the line.
PS_FIELDS = "pid=,ppid=,uid=,user:32=,stat=,ni=,nlwp=,sid=,pgid=,tpgid=,rss=,vsz=,times=,lstart=,args="
PS_COMMAND = f"LC_ALL=C TZ=UTC0 ps -wweo {PS_FIELDS}"
END_MARK = b"PROCWATCH-END"
HEADER = b"PROCWATCH-PS"  # then why: "missing" (no python3) or "old" (older than 3.10), and the shell's pid
MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                       "Dec"), 1)}
TICKS_PER_SECOND = 100  # start_ticks are made from the start time in seconds: an identity key, not kernel ticks


def _lstart(words: list[bytes]) -> float:
    """'Mon Dec  7 14:15:57 2026' (C locale, UTC) as epoch seconds."""
    _, month, day, clock, year = (w.decode("ascii") for w in words)
    hours, minutes, seconds = (int(v) for v in clock.split(":"))
    return float(calendar.timegm((int(year), MONTHS[month], int(day), hours, minutes, seconds, 0, 0, 0)))


def _name(argv: tuple[str, ...], args: str) -> str:
    if args.endswith(" <defunct>"):
        args = args[: -len(" <defunct>")]
    if args.startswith("[") and args.endswith("]"):
        return args[1:-1][:MAX_NAME]  # a kernel thread, zombie or process without argv: ps prints [comm]
    return (argv[0].rsplit("/", 1)[-1] if argv else args)[:15]


def parse_line(line: bytes) -> ProcInfo:
    """One ps line (without its newline) as a ProcInfo. Raises WireError on anything ps would not print."""
    parts = line.split(None, 18)
    try:
        if len(parts) != 19:
            raise ValueError
        pid, ppid, uid = int(parts[0]), int(parts[1]), int(parts[2])
        user = parts[3].decode("utf-8", "surrogateescape")
        stat = parts[4].decode("ascii")
        nice = int(parts[5]) if parts[5] != b"-" else 0  # "-": a real-time scheduling class
        threads, session, pgrp, tpgid, rss_kb, vsz_kb, cpu_seconds = (int(v) for v in parts[6:13])
        started = _lstart(parts[13:18])
    except (ValueError, KeyError, UnicodeDecodeError):
        raise WireError("the remote's ps printed a line procwatch cannot read") from None
    args = parts[18].rstrip(b"\n").decode("utf-8", "surrogateescape")[:MAX_ARGV]
    if not (0 < pid < 1 << 31 and 0 <= ppid < 1 << 31 and stat and stat[0] in STATE_CHARS and len(user) <= MAX_NAME
            and -20 <= nice <= 19 and min(threads, rss_kb, vsz_kb, cpu_seconds) >= 0):
        raise WireError("the remote's ps printed a line procwatch cannot read")
    kernel_thread = pid == 2 or ppid == 2
    argv = () if kernel_thread or stat[0] == "Z" else tuple(args.split(" "))
    return ProcInfo(
        pid=pid, ppid=ppid, start_ticks=int(started) * TICKS_PER_SECOND, uid=uid, user=user, state=stat[0], nice=nice,
        threads=threads, session=session, pgrp=pgrp, tpgid=tpgid, tty_nr=0, locked_kb=1 if "L" in stat else 0,
        exit_code=-1 if stat[0] == "Z" else 0, rss=rss_kb * 1024, cpu_ticks=cpu_seconds * TICKS_PER_SECOND, cpu_percent=0.0,
        name=_name(argv, args), argv=argv, kernel_thread=kernel_thread, started=started, vsz=vsz_kb * 1024,
    )


def steady(record: ProcInfo, previous: Callable[[int], ProcInfo | None]) -> ProcInfo:
    """The record with the start time it had in the last sweep when they differ by a second at most: ps computes
    lstart from a boot time it derives from the uptime on every run, so the same process can move by a second
    between two runs (and would look like a new process with the same pid)."""
    before = previous(record.pid)
    if (before is not None and before.start_ticks != record.start_ticks
            and abs(before.start_ticks - record.start_ticks) <= TICKS_PER_SECOND):
        return record._replace(start_ticks=before.start_ticks, started=before.started)
    return record
