"""The markdown the benchmark prints (and writes with --output, e.g. benchmarks/RESULTS.md): one table per section.

    ## procwatch benchmarks
    <machine, load, date, command line, what a cell is>
    ### Summary
    <the headline table (headline.py) and the targets, met or missed>
    ### <section title>
    <note>
    | N | procs | ... |
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Section:
    key: str  # as given to --sections
    title: str
    headers: list[str]
    run: Callable[[Any], list[list[str]]]  # the Context of one size -> table rows
    note: str = ""
    rows: list[list[str]] = field(default_factory=list)

    def add_problem(self, n: int, what: str, reason: object) -> None:
        """One line spanning the table instead of the rows of size n ('skipped: ...', 'error: ...')."""
        self.rows.append([f"{n:,}: {what}: {reason}"])


def padded(cells: list[str], width: int) -> list[str]:
    """A row of `width` cells: the given ones, then empty ones."""
    return [*cells, *[""] * (width - len(cells))]


def header(cpus: int, load_start: str, load_end: str, argv: list[str], repeats: int) -> str:
    return (f"## procwatch benchmarks\n\n{cpus} CPUs, Python {sys.version.split()[0]}, "
            f"load average {load_start} at start, {load_end} at end (other work on the machine inflates wall "
            f"times: compare CPU columns), "
            f"{time.strftime('%Y-%m-%d %H:%M')}, `{' '.join(['benchmarks/run.py', *argv])}`. "
            f"Cells: median (min–max) over {repeats} runs unless stated.")


def render(sections: list[Section], head: str, summary: str = "") -> str:
    """The header, the summary (the headline table and the targets), then one table per section."""
    out = [head]
    if summary:
        out.append("\n### Summary\n\n" + summary)
    for section in sections:
        out.append(f"\n### {section.title}\n")
        if section.note:
            out.append(section.note + "\n")
        out.append("| " + " | ".join(section.headers) + " |")
        out.append("|" + "---|" * len(section.headers))
        for row in section.rows:
            out.append("| " + " | ".join(padded(row, len(section.headers))) + " |")
    return "\n".join(out) + "\n"


def publish(text: str, output: str | None) -> None:
    """Print the markdown; also write it to `output` when given."""
    print(text)
    if output:
        Path(output).write_text(text)
