"""What procps `ps` prints: the reference our STAT, RSS and process list are compared with."""

from __future__ import annotations

import subprocess

from support.polling import DEADLINE


def ps_field(pid: int, field: str) -> str:
    """One `ps -o FIELD=` column of one process ('' when the process is gone)."""
    result = subprocess.run(["ps", "-o", f"{field}=", "-p", str(pid)], capture_output=True, text=True,
                            timeout=DEADLINE)
    return result.stdout.strip()


def ps_stat(pid: int) -> str:
    """STAT of one process as procps prints it (empty when the process is gone)."""
    return ps_field(pid, "stat")


def ps_all_stats() -> dict[int, str]:
    """pid -> STAT of every process, from one `ps -e`."""
    result = subprocess.run(["ps", "-eo", "pid=,stat="], capture_output=True, text=True, timeout=DEADLINE,
                            check=True)
    stats = {}
    for line in result.stdout.splitlines():
        pid, stat = line.split()
        stats[int(pid)] = stat
    return stats
