"""The tools procwatch is measured next to, their command lines, and whether they are installed here.

A missing tool is not an error: its rows say "skipped: htop is not installed (apt-get install htop)", and the run
starts with one line naming every missing package (`apt-get install htop btop`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
PROCWATCH = str(Path(sys.executable).parent / "procwatch")


@dataclass(frozen=True)
class Peer:
    name: str  # as printed in the tables
    argv: tuple[str, ...]
    package: str | None = None  # the Debian/Ubuntu package that provides it; None for procwatch itself
    config: Callable[[], dict[str, str]] | None = None  # environment made at run time (a config directory)

    def problem(self) -> str | None:
        """Why this tool cannot run here (None when it can)."""
        if self.package is None:  # procwatch, or the interpreter that runs it
            return None if Path(self.argv[0]).exists() else f"{self.argv[0]} not found"
        if shutil.which(self.argv[0]):
            return None
        return f"{self.argv[0]} is not installed (apt-get install {self.package})"

    def command(self) -> tuple[str, ...]:
        """argv, behind `env NAME=VALUE` when the tool needs its own environment."""
        env = self.config() if self.config else {}
        return ("env", *(f"{k}={v}" for k, v in env.items()), *self.argv) if env else self.argv


_btop_home: tempfile.TemporaryDirectory | None = None


def btop_tree_config() -> dict[str, str]:
    """A temporary XDG_CONFIG_HOME whose btop.conf shows only the process box, as a tree, refreshed every second
    (removed when the benchmark exits): the user's own btop settings are neither read nor changed."""
    global _btop_home
    if _btop_home is None:
        _btop_home = tempfile.TemporaryDirectory(prefix="procwatch-bench-btop-")
        conf = Path(_btop_home.name, "btop", "btop.conf")
        conf.parent.mkdir()
        conf.write_text('shown_boxes = "proc"\nproc_tree = True\nupdate_ms = 1000\n')
    return {"XDG_CONFIG_HOME": _btop_home.name}


# Interactive tools, each in a tmux pane at a 1 s refresh (htop counts in tenths of a second), tree views where the
# tool has one (top has none). The order is the rotation's: A B C D A B C D ...
TUI_PEERS = (
    Peer("procwatch", (PROCWATCH, "--no-sandbox", "--interval", "1")),
    Peer("htop -t", ("htop", "-t", "-d", "10"), "htop"),
    Peer("btop (tree)", ("btop", "--utf-force"), "btop", btop_tree_config),
    Peer("top -d 1", ("top", "-d", "1"), "procps"),
)

# One-shot listings, output to /dev/null; the ratio column divides by ONCE_BASELINE.
ONCE_PEERS = (
    Peer("procwatch --once", (PROCWATCH, "--once")),
    Peer("procwatch --once --json", (PROCWATCH, "--once", "--json")),
    Peer("ps -eo pid,ppid,user,stat,args", ("ps", "-eo", "pid,ppid,user,stat,args"), "procps"),
    Peer("pstree -p", ("pstree", "-p"), "psmisc"),
    Peer("procwatch --version", (PROCWATCH, "--version")),  # start-up alone: interpreter, imports, no sweep
    Peer("python -c pass", (PYTHON, "-c", "pass")),  # the interpreter's own start-up
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
