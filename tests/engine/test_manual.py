"""Shell completion and the man page, made from the parser: every flag is in them, and the shells and man read them."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from support.polling import DEADLINE
from support.procs import REPO

from procwatch.cli import build_parser


def printed(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "procwatch", *args], capture_output=True, text=True, cwd=REPO,
                            timeout=DEADLINE * 3)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout


def long_flags() -> list[str]:
    return [option for action in build_parser()._actions for option in action.option_strings
            if option.startswith("--")]


def complete_in_bash(script: str, *words: str) -> list[str]:
    """What bash offers after `procwatch WORDS` (the last word being completed) with the script loaded."""
    line = " ".join(("procwatch", *words))
    code = (f"{script}\nCOMP_WORDS=(procwatch {' '.join(words)}); COMP_CWORD={len(words)}; COMP_LINE='{line}'\n"
            "_procwatch; printf '%s\\n' \"${COMPREPLY[@]}\"")
    result = subprocess.run(["bash", "--norc", "-c", code], capture_output=True, text=True, timeout=DEADLINE)
    assert result.returncode == 0, result.stderr
    return [word for word in result.stdout.splitlines() if word]


def test_bash_completion_offers_every_flag_and_the_values_it_knows():
    script = printed("--print-completion", "bash")
    assert sorted(complete_in_bash(script, "--")) == sorted(set(long_flags()))
    assert complete_in_bash(script, "--so") == ["--sort"]
    assert complete_in_bash(script, "--sort", "") == ["pid", "cpu", "time", "mem", "name"]
    assert complete_in_bash(script, "--print-completion", "z") == ["zsh"]
    assert "root" in complete_in_bash(script, "--user", "ro")
    assert complete_in_bash(script, "--interval", "") == []


def test_zsh_completion_names_every_flag():
    script = printed("--print-completion", "zsh")
    assert script.startswith("#compdef procwatch\n")
    for flag in long_flags():
        assert f"'{flag}[" in script or f"'{flag}=[" in script, flag
    assert "'--sort=[" in script and ":(pid cpu time mem name)'" in script
    if shutil.which("zsh"):
        result = subprocess.run(["zsh", "-n", "-c", script], capture_output=True, text=True, timeout=DEADLINE)
        assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_the_man_page_renders_without_warnings_and_lists_every_flag():
    page = printed("--print-man")
    result = subprocess.run(["groff", "-man", "-Tutf8", "-ww"], input=page, capture_output=True, text=True,
                            timeout=DEADLINE)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    text = subprocess.run(["col", "-b"], input=result.stdout, capture_output=True, text=True).stdout \
        if shutil.which("col") else result.stdout
    for flag in long_flags():
        assert flag.replace("-", "") in text.replace("‐", "").replace("-", ""), flag
    for section in ("NAME", "SYNOPSIS", "OPTIONS", "FILES", "PRECEDENCE", "EXIT STATUS"):
        assert section in text
    assert "config.toml" in text and "state.json" in text
