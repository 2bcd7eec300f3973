"""`procwatch --web`: served through textual-serve to a real headless browser (Debian's chromium), which must show
the tree, read-only. CI installs only `.[test]`: the browser test skips, saying why, without textual-serve or chromium
(`pip install -e '.[web]'` and `apt-get install chromium` run it)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from support.polling import DEADLINE, wait_until
from support.procs import REPO

from procwatch.cli import main, parse_bind
from procwatch.engine import procfs
from procwatch.ui.web import is_loopback, session_command

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HAVE_SERVE = importlib.util.find_spec("textual_serve") is not None


def test_bind_addresses_and_loopback():
    assert parse_bind("127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert parse_bind("[::1]:9000") == ("::1", 9000)
    assert all(map(is_loopback, ("127.0.0.1", "127.1.2.3", "::1", "localhost")))
    assert not any(map(is_loopback, ("0.0.0.0", "192.168.1.5", "::", "example.org")))


@pytest.mark.parametrize("argv", [["--web", "--bind", "8000"], ["--web", "--bind", "host:"], ["--web", "--bind",
                                  "h:70000"], ["--web", "--once"]])
def test_bad_web_flags_are_one_line_and_status_2(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_served_tab_is_read_only_unless_the_command_line_says_otherwise():
    assert session_command(["--web", "--sort", "mem"], readonly=True).endswith("procwatch --web --sort mem --readonly")
    assert "--readonly" not in session_command(["--web", "--no-readonly"], readonly=False)


def test_without_textual_serve_web_says_what_to_install():
    code = "import sys; sys.modules['textual_serve'] = None\nfrom procwatch.cli import main\nsys.exit(main(['--web']))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            timeout=DEADLINE * 3)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "pip install 'procwatch-tui[web]'" in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def group_alive(pgid: int) -> bool:
    """Any process left in the process group (stat field 5, pgrp), read through the engine's own /proc reader."""
    for pid in procfs.pids():
        fields = procfs.stat_fields(pid)
        if fields is not None and int(fields[2]) == pgid:
            return True
    return False


@contextlib.contextmanager
def own_group(args: list[str], **kwargs):
    """A process in a new process group of its own: at the end the whole group (a server's sessions, a browser's
    helpers) gets SIGTERM, then SIGKILL, and the test waits until none of it is left."""
    proc = subprocess.Popen(args, start_new_session=True, stdin=subprocess.DEVNULL, **kwargs)
    try:
        yield proc
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=3)
        proc.wait(timeout=DEADLINE)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
        wait_until(lambda: not group_alive(proc.pid), what=f"process group {proc.pid} gone")


async def screen_text_in_browser(url: str, devtools: str, wanted: tuple[str, ...]) -> tuple[str, str]:
    """Open `url` in the browser behind `devtools` (the Chrome DevTools Protocol) and collect what its terminal
    receives over the websocket until every `wanted` piece of text came; returns (text, the body's classes)."""
    import aiohttp  # textual-serve's own dependency

    async with aiohttp.ClientSession() as http, http.ws_connect(devtools, max_msg_size=0) as ws:
        counter = 0
        received = []

        async def call(method: str, session: str | None = None, **params):
            nonlocal counter
            counter += 1
            await ws.send_str(json.dumps({"id": counter, "method": method, "params": params,
                                          **({"sessionId": session} if session else {})}))
            while True:
                message = json.loads((await ws.receive()).data)
                if message.get("id") == counter:
                    return message.get("result", {})
                received.append(message)

        target = (await call("Target.createTarget", url="about:blank"))["targetId"]
        session = (await call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        await call("Network.enable", session)
        await call("Page.navigate", session, url=url)
        text = ""
        deadline = time.monotonic() + DEADLINE * 3
        while not all(piece in text for piece in wanted) and time.monotonic() < deadline:
            with contextlib.suppress(asyncio.TimeoutError):
                received.append(json.loads((await asyncio.wait_for(ws.receive(), 1)).data))
            while received:
                message = received.pop(0)
                if message.get("method") == "Network.webSocketFrameReceived":
                    frame = message["params"]["response"]
                    data = base64.b64decode(frame["payloadData"]) if frame["opcode"] == 2 else frame["payloadData"]
                    text += data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        body = await call("Runtime.evaluate", session, expression="document.body.className")
        return re.sub(r"\x1b\[[0-9;?$]*[A-Za-z]", "", text), body.get("result", {}).get("value", "")


@pytest.mark.skipif(not HAVE_SERVE, reason="textual-serve is not installed (pip install -e '.[web]')")
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium to browse with (apt-get install chromium)")
@pytest.mark.timeout(90)
async def test_a_headless_browser_shows_the_tree_read_only(children):
    marker = children.start(["sleep", "61.5"])  # a process of ours the page must show (the filter keeps it in view)
    port = free_port()
    with own_group([sys.executable, "-m", "procwatch", "--web", "--bind", f"127.0.0.1:{port}", "--filter",
                    "61.5"],
                   cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as server:
        first = server.stderr.readline()
        assert f"serving the TUI at http://127.0.0.1:{port} (read-only)" in first

        def listening() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, what="the web server listening")
        profile = tempfile.mkdtemp(prefix="pw-chromium-")
        try:
            with own_group([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1400,900",
                            "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as browser:
                devtools = None
                for line in browser.stderr:
                    found = re.search(r"DevTools listening on (ws://\S+)", line)
                    if found:
                        devtools = found.group(1)
                        break
                assert devtools, "chromium did not start its DevTools endpoint"
                text, body = await screen_text_in_browser(f"http://127.0.0.1:{port}/", devtools,
                                                          ("READ-ONLY", "PID", "sleep 61.5"))
        finally:
            shutil.rmtree(profile, ignore_errors=True)
    assert "-first-byte" in body  # the page's terminal got the app's output
    assert "READ-ONLY" in text and "PID USER" in text
    assert "sleep 61.5" in text and str(marker.pid) in text
    assert "├─" in text or "└─" in text  # a tree
