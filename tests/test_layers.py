"""Layering: the engine and the `--once` path never import Textual (start-up time matters for scripts), and the
Linux hot path does not import psutil. Checked in a fresh interpreter, where sys.modules tells the truth."""

from __future__ import annotations

import subprocess
import sys

from conftest import DEADLINE, REPO

ENGINE = ["model", "collector", "stat", "lineage", "tree", "text", "cli", "fake"]

CHECK = """
import contextlib, io, sys
for name in {engine!r}:
    __import__("procwatch." + name)
out = io.StringIO()
with contextlib.redirect_stdout(out):
    status = sys.modules["procwatch.cli"].main(["--once"])
assert status == 0, status
assert out.getvalue().startswith("    PID USER"), out.getvalue()[:200]
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "psutil", "rich"))
assert not loaded, loaded
json_out = io.StringIO()
with contextlib.redirect_stdout(json_out):
    assert sys.modules["procwatch.cli"].main(["--once", "--json"]) == 0
assert json_out.getvalue().startswith("[{{"), json_out.getvalue()[:200]
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "psutil", "rich"))
assert not loaded, loaded
print("ok")
""".format(engine=ENGINE)


def test_engine_and_once_do_not_import_textual_or_psutil():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=REPO,
                            timeout=DEADLINE * 3)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_portable_collector_imports_psutil_only_when_used():
    code = ("import sys\nfrom procwatch.collector import PsutilCollector, make_collector\n"
            "assert 'psutil' not in sys.modules\nmake_collector().sweep()\nassert 'psutil' not in sys.modules\n"
            "snapshot = PsutilCollector().sweep()\nassert 'psutil' in sys.modules and len(snapshot) > 1\n"
            "assert 'textual' not in sys.modules\nprint('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            timeout=DEADLINE * 3)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_engine_sources_have_no_textual_import():
    """A static check too, so a lazy import inside a function cannot sneak in unnoticed."""
    import pathlib

    for name in ENGINE:
        source = (pathlib.Path(REPO) / "procwatch" / f"{name}.py").read_text()
        for line in source.splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert "textual" not in stripped and "rich" not in stripped.split()[1], f"{name}.py: {stripped}"


NON_UI = ["poller", "present", "actions", "sandbox/__init__", "sandbox/client", "sandbox/demos", "sandbox/recipes",
          "sandbox/supervisor", "sandbox/_sys"]


def test_non_ui_modules_do_not_import_textual():
    """Only procwatch/app.py and procwatch/widgets/ talk to Textual; the poller, the presentation helpers, the
    signal actions and the whole sandbox do not (checked statically and in a fresh interpreter)."""
    import pathlib

    for name in NON_UI:
        source = (pathlib.Path(REPO) / "procwatch" / f"{name}.py").read_text()
        for line in source.splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                assert words[1].split(".")[0] != "textual", f"{name}.py: {line.strip()}"
    modules = ", ".join(repr("procwatch." + name.replace("/", ".").removesuffix(".__init__")) for name in NON_UI)
    code = f"import importlib, sys\nfor m in ({modules}):\n    importlib.import_module(m)\n" \
           "assert not [m for m in sys.modules if m.split('.')[0] == 'textual']\nprint('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            timeout=DEADLINE * 3)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
