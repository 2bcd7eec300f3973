"""`procwatch --web`: the TUI in a web browser, through textual-serve (the optional extra `procwatch-tui[web]`).

textual-serve runs one procwatch per browser tab, with Textual's web driver (it sets TEXTUAL_DRIVER), and relays the
screen and the keys over a websocket. Anyone who can open the page can press keys, so a served procwatch is
read-only unless the user gave --no-readonly, and the server listens on loopback unless --bind says otherwise."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence

WEB_DRIVER = "textual.drivers.web_driver"


def served_session() -> bool:
    """True in a procwatch that textual-serve started for a browser tab (not a terminal, and not the server)."""
    return os.environ.get("TEXTUAL_DRIVER", "").startswith(WEB_DRIVER)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress  # here: cli imports this module on every start, --once too

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def session_command(argv: Sequence[str], readonly: bool) -> str:
    """What textual-serve runs per tab (a shell command line): this procwatch with the same flags; the session sees
    the web driver and runs the TUI instead of another server."""
    extra = ["--readonly"] if readonly else []
    return shlex.join([sys.executable, "-m", "procwatch", *argv, *extra])


def serve(host: str, port: int, argv: Sequence[str], readonly: bool) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        print("procwatch: --web needs textual-serve: pip install 'procwatch-tui[web]' (or pipx inject procwatch-tui "
              "textual-serve)", file=sys.stderr)
        return 2
    if not is_loopback(host):
        print(f"procwatch: serving on {host}:{port}, beyond this machine: anyone who can reach it sees every process"
              f"{'' if readonly else ' and can send signals (--no-readonly)'}", file=sys.stderr)
    where = f"[{host}]" if ":" in host else host
    print(f"procwatch: serving the TUI at http://{where}:{port} ({'read-only' if readonly else 'NOT read-only'}); "
          "Ctrl+C stops", file=sys.stderr)
    Server(session_command(argv, readonly), host=host, port=port, title="procwatch").serve()
    return 0
