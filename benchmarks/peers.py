"""The tools procwatch is measured next to, their command lines, and whether they are installed here.

A missing tool is not an error: its rows say "skipped: htop is not installed (apt-get install htop)", and the run
starts with one line naming every missing package (`apt-get install htop btop`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
PROCWATCH = str(Path(sys.executable).parent / "procwatch")


@dataclass(frozen=True)
class Peer:
    name: str  # as printed in the tables
    argv: tuple[str, ...]
    package: str | None = None  # the Debian/Ubuntu package that provides it; None for procwatch itself

    def problem(self) -> str | None:
        """Why this tool cannot run here (None when it can)."""
        if self.package is None:
            return None if Path(self.argv[0]).exists() else f"{self.argv[0]} not found"
        if shutil.which(self.argv[0]):
            return None
        return f"{self.argv[0]} is not installed (apt-get install {self.package})"


# Interactive tools, each in a tmux pane at a 1 s refresh (htop counts in tenths of a second).
TUI_PEERS = (
    Peer("procwatch", (PROCWATCH, "--no-sandbox", "--interval", "1")),
    Peer("top -d 1", ("top", "-d", "1"), "procps"),
    Peer("htop -t -d 10", ("htop", "-t", "-d", "10"), "htop"),
    Peer("btop -u 1000", ("btop", "--utf-force", "-u", "1000"), "btop"),
)

# One-shot listings, output to /dev/null; the ratio column divides by ONCE_BASELINE.
ONCE_PEERS = (
    Peer("procwatch --once", (PROCWATCH, "--once")),
    Peer("procwatch --once --json", (PROCWATCH, "--once", "--json")),
    Peer("ps -eo pid,ppid,user,stat,args", ("ps", "-eo", "pid,ppid,user,stat,args"), "procps"),
    Peer("pstree -p", ("pstree", "-p"), "psmisc"),
)
ONCE_BASELINE = "ps -eo pid,ppid,user,stat,args"


def install_hint(peers: tuple[Peer, ...] = TUI_PEERS + ONCE_PEERS) -> str | None:
    """`apt-get install ...` for the packages of the tools missing here, None when all are there."""
    missing = sorted({p.package for p in peers if p.package and p.problem()})
    return f"apt-get install {' '.join(missing)}" if missing else None


def app_launch_problem() -> str | None:
    """Why the TUI cannot be launched yet (None when it can). Only the import is probed: a TUI that exits at once
    is caught in its pane (the skip reason then quotes its screen)."""
    if not Path(PROCWATCH).exists():
        return f"{PROCWATCH} not found"
    probe = subprocess.run([PYTHON, "-c", "import procwatch.ui.app"], capture_output=True, text=True, timeout=60,
                           check=False)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"procwatch.ui.app is not importable yet ({last[:160]})"
    return None
