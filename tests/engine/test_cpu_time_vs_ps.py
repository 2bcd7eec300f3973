"""The TIME column is CPU time (utime + stime) exactly as `ps -o time` prints it, for a child that really used CPU."""

from __future__ import annotations

import pytest
from support.procs import LIFETIME, cpu_ticks
from support.ps import ps_field

from procwatch.engine.collector import ProcfsCollector
from procwatch.engine.words import CLOCK_TICKS, format_cpu_time

pytestmark = pytest.mark.usefixtures("no_leftover_children")

# Burns about 1.3 s of CPU, then sleeps: its CPU time stops moving, so ps and the collector read the same value.
PY_BURN = ("import time\nend = time.process_time() + 1.3\nwhile time.process_time() < end:\n    pass\n"
           f"print('ready', flush=True)\ntime.sleep({LIFETIME})")


def test_cpu_time_matches_ps(children):
    proc = children.python(PY_BURN)
    record = ProcfsCollector().sweep().procs[proc.pid]
    assert record.cpu_ticks == cpu_ticks(proc.pid) >= CLOCK_TICKS  # at least a second: "00:00:01"
    assert format_cpu_time(record.cpu_ticks) == ps_field(proc.pid, "time") != "00:00:00"


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "00:00:00"), (0.99, "00:00:00"), (59, "00:00:59"), (61, "00:01:01"), (3600 * 5 + 7, "05:00:07"),
    (86399, "23:59:59"), (86400 + 3723, "1-01:02:03"), (86400 * 12, "12-00:00:00"),
])
def test_cpu_time_format_is_ps_time(seconds, shown):
    assert format_cpu_time(round(seconds * CLOCK_TICKS)) == shown
