"""The columns a user can choose (`--columns`, the palette), their headers, and their values as ps prints them.

One table for the TUI and `--once --columns`: ps's own names (`ps -o` keywords: args, pcpu, etime, nlwp...) are
accepted as aliases. Values follow procps-ng's ps/output.c where ps has the column (TIME is CPU time as
`[DD-]HH:MM:SS`, ELAPSED as `[[DD-]hh:]mm:ss`, START as `HH:MM:SS` today or `Mon DD` before, %CPU as CPU time over
elapsed time, truncated to a tenth); the TUI draws sizes and ages shorter (`12.3M`, `12:34`) and its CPU% is the
rate since the previous sweep. Standard library only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import NamedTuple

from procwatch.engine import procfs
from procwatch.engine.catalog import t
from procwatch.engine.model import ProcInfo
from procwatch.engine.stat import format_stat
from procwatch.engine.tree import cgroup_unit
from procwatch.engine.words import cpu_time_column, format_bytes, format_elapsed, tty_name


class ColumnContext(NamedTuple):
    now: float  # epoch seconds of the snapshot
    mem_total_kb: int  # MemTotal, for MEM%
    clock_ticks: int = os.sysconf("SC_CLK_TCK")
    human: bool = False  # the TUI: 12.3M rather than KiB, 12:34 rather than 12:34 padded as ps
    rates: bool = False  # CPU% since the previous sweep (the TUI) rather than over the whole life (ps, --once)
    proc: str = procfs.PROC
    uptime: float = 0.0  # CLOCK_BOOTTIME when the values are made: ages as ps computes them (0: from `now`)


def mem_total_kb(proc: str = procfs.PROC) -> int:
    try:
        raw = procfs.read(f"{proc}/meminfo", limit=65536)
    except OSError:
        return 0
    start = raw.find(b"MemTotal:")
    if start < 0:
        return 0
    return int(raw[start + 9 : raw.index(b"\n", start)].split()[0])


def ps_time(seconds: int) -> str:
    """ps TIME: [DD-]HH:MM:SS."""
    days, rest = divmod(max(0, seconds), 86400)
    clock = f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    return f"{days}-{clock}" if days else clock


def ps_etime(seconds: int) -> str:
    """ps ELAPSED (etime): [[DD-]hh:]mm:ss."""
    seconds = max(0, seconds)
    days, rest = divmod(seconds, 86400)
    if days:
        return f"{days}-{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    if rest >= 3600:
        return f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    return f"{rest // 60:02d}:{rest % 60:02d}"


def ps_start(started: float, now: float) -> str:
    """ps START: HH:MM:SS within the last 24 hours, else 'Mon DD' (procps pr_start)."""
    local = time.localtime(int(started))
    if started + 24 * 3600 > now:
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%b %d", local)


def per_mille(value: float) -> str:
    """A percentage as ps prints it: truncated to a tenth, whole numbers from 100 on."""
    tenths = int(value * 10)
    return f"{tenths // 10}" if tenths > 999 else f"{tenths // 10}.{tenths % 10}"


def age(p: ProcInfo, ctx: ColumnContext) -> float:
    """Seconds since the process started. From the boot clock and the start ticks when known, as ps does:
    `started` rests on btime, a whole second, which is too coarse for a young process's %CPU."""
    if ctx.uptime:
        return ctx.uptime - p.start_ticks / ctx.clock_ticks
    return ctx.now - p.started


def cpu_value(p: ProcInfo, ctx: ColumnContext) -> str:
    if ctx.rates:
        return f"{p.cpu_percent:.1f}"
    elapsed = age(p, ctx)
    return per_mille(p.cpu_ticks * 100 / ctx.clock_ticks / elapsed) if elapsed > 0 else "0.0"


def mem_value(p: ProcInfo, ctx: ColumnContext) -> str:
    return per_mille(min(99.9, p.rss / 1024 * 100 / ctx.mem_total_kb)) if ctx.mem_total_kb else "0.0"


def size_value(size: int, ctx: ColumnContext) -> str:
    return format_bytes(size) if ctx.human else str(size // 1024)


def elapsed_value(p: ProcInfo, ctx: ColumnContext) -> str:
    seconds = age(p, ctx)
    return format_elapsed(seconds) if ctx.human else ps_etime(int(seconds))


def wchan_value(p: ProcInfo, ctx: ColumnContext) -> str:
    if p.state == "R":
        return "-"
    return procfs.read_wchan(p.pid, ctx.proc) or "-"


def time_value(p: ProcInfo, ctx: ColumnContext) -> str:
    """CPU time: as `ps aux` in the TUI (3:07), as `ps -o time` for scripts ([DD-]HH:MM:SS)."""
    return cpu_time_column(p.cpu_ticks, ctx.clock_ticks) if ctx.human else ps_time(p.cpu_ticks // ctx.clock_ticks)


def renamed(p: ProcInfo) -> bool:
    """Whether comm says something argv[0] does not (prctl(PR_SET_NAME), named worker threads, a rewritten
    argv): comm is neither a prefix of argv[0] nor of its base name (a login shell's '-' set aside)."""
    if not p.argv or not p.name:
        return False
    first = p.argv[0].lstrip("-")
    return not (first.startswith(p.name) or os.path.basename(first).startswith(p.name))


class Column(NamedTuple):
    key: str
    header: str
    width: int  # cells in the TUI (values are cut or padded); --once sizes to the widest value
    right: bool  # numbers are right-aligned
    aliases: tuple[str, ...]  # ps -o keywords meaning the same
    value: Callable[[ProcInfo, ColumnContext], str]

    @property
    def help(self) -> str:
        """What the column shows (the palette's line under "Show column"), in the current language."""
        return t(f"column.{self.key}.help")


COLUMNS: tuple[Column, ...] = (
    Column("pid", "PID", 7, True, ("tgid",), lambda p, c: str(p.pid)),
    Column("ppid", "PPID", 7, True, (), lambda p, c: str(p.ppid)),
    Column("user", "USER", 8, False, ("euser", "uname", "username"), lambda p, c: p.user),
    Column("stat", "STAT", 5, False, (), lambda p, c: format_stat(p)),
    Column("ni", "NI", 3, True, ("nice",), lambda p, c: str(p.nice)),
    Column("thr", "THR", 4, True, ("nlwp", "thcount", "threads"), lambda p, c: str(p.threads)),
    Column("tty", "TTY", 7, False, ("tt", "tname"), lambda p, c: tty_name(p.tty_nr)),
    Column("cpu", "CPU%", 5, True, ("%cpu", "pcpu"), cpu_value),
    Column("mem", "MEM%", 5, True, ("%mem", "pmem"), mem_value),
    Column("rss", "RSS", 6, True, ("rssize", "rsz"), lambda p, c: size_value(p.rss, c)),
    Column("vsz", "VSZ", 6, True, ("vsize",), lambda p, c: size_value(p.vsz, c)),
    Column("time", "TIME", 8, True, ("cputime",), time_value),
    Column("elapsed", "ELAPSED", 8, True, ("etime",), elapsed_value),
    Column("start", "START", 8, True, (), lambda p, c: ps_start(p.started, c.now)),
    Column("wchan", "WCHAN", 14, False, (), wchan_value),
    Column("unit", "UNIT", 18, False, (), lambda p, c: cgroup_unit(p.cgroup)),
    Column("cgroup", "CGROUP", 30, False, (), lambda p, c: p.cgroup or "-"),
    Column("comm", "COMM", 15, False, ("ucomm", "ucmd"), lambda p, c: p.name),
    Column("command", "COMMAND", 0, False, ("args", "cmd"), lambda p, c: p.cmdline),
)
BY_NAME: dict[str, Column] = {name: column for column in COLUMNS for name in (column.key, *column.aliases)}
CGROUP_COLUMNS = frozenset({"unit", "cgroup"})  # they need ProcInfo.cgroup (read on demand: see the collector)
DEFAULT_TUI = ("pid", "user", "stat", "cpu", "rss", "time", "command")  # TIME: CPU time, as ps aux (ELAPSED on request)


def parse_columns(value: str) -> tuple[Column, ...]:
    """'pid,ppid,stat,args' -> columns, or ValueError naming the unknown one. ps's `-o` keywords work too."""
    chosen = []
    for name in value.split(","):
        name = name.strip().lower().removesuffix("=")  # `pid=` as ps -o writes a header-less column
        if not name:
            raise ValueError(f"empty column name in {value!r}")
        column = BY_NAME.get(name)
        if column is None:
            raise ValueError(f"unknown column {name!r}; choose from {', '.join(c.key for c in COLUMNS)} "
                             "(or ps -o names)")
        if column not in chosen:
            chosen.append(column)
    return tuple(chosen)
