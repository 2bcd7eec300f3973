"""Layering, by folder: every module of a folder obeys its folder's rule, so a new module is checked the day it
is added. Checked statically (every import statement, lazy ones inside functions too) and in a fresh interpreter
(where sys.modules tells the truth). `--once` loads neither Textual, rich nor psutil: start-up time matters."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest
from support.polling import DEADLINE
from support.procs import REPO

PACKAGE = pathlib.Path(REPO) / "procwatch"
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}

# folder -> what its modules may import besides the standard library: procwatch subpackages, then third parties.
RULES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "engine": (frozenset({"engine"}), frozenset()),
    "sandbox": (frozenset({"engine", "sandbox"}), frozenset()),
    "view": (frozenset({"engine", "view"}), frozenset({"rich", "psutil"})),
    "ui": (frozenset({"engine", "view", "ui", "sandbox"}), frozenset({"rich", "textual", "textual_serve"})),
    # the package's top level: the CLI, the --once report, __main__; Textual only through procwatch.ui
    # tomli: Python 3.10's stand-in for tomllib (standard from 3.11, unknown to 3.10's stdlib list), in settings
    "": (frozenset({"engine", "view", "ui", "report", "hosts_report", "cli", "check", "watch", "settings", "manual"}),
         frozenset({"tomli", "tomllib"})),
}


def imported_names(source: str, module: str) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every import in a module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module.split(".")[: -node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def violations(package: pathlib.Path, rules: dict[str, tuple[frozenset[str], frozenset[str]]]) -> list[str]:
    """Every import that breaks its folder's rule, as 'path:line: name'. A folder without a rule is a violation
    too: a new layer must say what it may import."""
    out = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        folder = relative.parts[0] if len(relative.parts) > 1 else ""
        if folder not in rules:
            out.append(f"{relative}: folder {folder!r} has no import rule")
            continue
        allowed_own, allowed_third = rules[folder]
        module = ".".join((package.name, *relative.with_suffix("").parts))
        for line, name in imported_names(path.read_text(), module):
            top, _, rest = name.partition(".")
            if top in STDLIB:
                continue
            if top == package.name:
                layer = rest.split(".")[0]
                if layer and layer not in allowed_own:
                    out.append(f"{relative}:{line}: {name}")
            elif top not in allowed_third:
                out.append(f"{relative}:{line}: {name}")
    return out


def test_every_module_obeys_its_folders_rule():
    assert violations(PACKAGE, RULES) == []


def test_the_check_catches_a_new_module_that_breaks_the_rule(tmp_path):
    """A module added to the engine that imports Textual, even lazily, or the view: both reported."""
    fake = tmp_path / "procwatch"
    (fake / "engine").mkdir(parents=True)
    (fake / "engine" / "fine.py").write_text("import os\nfrom procwatch.engine import model\n")
    (fake / "engine" / "new_module.py").write_text("def f():\n    import textual.app\n    from ..view import rows\n")
    (fake / "extra").mkdir()
    (fake / "extra" / "x.py").write_text("")
    assert violations(fake, RULES) == [
        "engine/new_module.py:2: textual.app",
        "engine/new_module.py:3: procwatch.view",
        "extra/x.py: folder 'extra' has no import rule",
    ]


def modules_of(folder: str) -> list[str]:
    return sorted(".".join(("procwatch", folder, *path.relative_to(PACKAGE / folder).with_suffix("").parts))
                  .removesuffix(".__init__") for path in (PACKAGE / folder).rglob("*.py"))


FRESH = """
import importlib, sys
for name in {modules!r}:
    importlib.import_module(name)
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & {forbidden!r})
assert not loaded, loaded
print("ok")
"""


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("engine", {"textual", "rich", "psutil"}),
    ("sandbox", {"textual", "rich", "psutil"}),
    ("view", {"textual"}),
])
def test_importing_a_folder_loads_nothing_forbidden(folder, forbidden):
    code = FRESH.format(modules=modules_of(folder), forbidden=forbidden)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            timeout=DEADLINE * 3)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


ONCE = """
import argparse, contextlib, io, sys
from procwatch.cli import main
for argv, start in ((["--once"], "    PID USER"), (["--once", "--json"], "[{"),
                    (["--once", "--columns", "pid,ppid,stat,args"], " "),
                    (["--check", "--state", "Z", "--critical", "@9999:"], "PROCS OK: ")):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    assert out.getvalue().startswith(start), out.getvalue()[:200]
from procwatch.engine.tree import ProcessFilter
from procwatch.watch import run_watch
out = io.StringIO()
args = argparse.Namespace(procfs="/proc", json=True, snapshots=True)
assert run_watch(args, ProcessFilter(), 0.01, out, sweeps=2) == 0
assert out.getvalue().startswith('{"event": "snapshot"'), out.getvalue()[:200]
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "psutil", "rich"))
assert not loaded, loaded
print("ok")
"""


def test_once_check_and_watch_load_neither_textual_rich_nor_psutil():
    result = subprocess.run([sys.executable, "-c", ONCE], capture_output=True, text=True, cwd=REPO,
                            timeout=DEADLINE * 3)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_portable_collector_imports_psutil_only_when_used():
    code = ("import sys\nfrom procwatch.view.collectors import PsutilCollector, make_collector\n"
            "assert 'psutil' not in sys.modules\nmake_collector().sweep()\nassert 'psutil' not in sys.modules\n"
            "snapshot = PsutilCollector().sweep()\nassert 'psutil' in sys.modules and len(snapshot) > 1\n"
            "assert 'textual' not in sys.modules\nprint('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            timeout=DEADLINE * 3)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
