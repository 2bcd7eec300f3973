"""The summary table of issue 12 and its targets, from the numbers the sections recorded while they ran.

    | processes | procwatch | htop -t | btop (tree) | top -d 1 | procwatch / best peer |

A CPU cell is "alone median (together)": % of one core, alone = each tool by itself in rotation, together = all
tools at the same time in the same window. Targets are judged on both; the verdict says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tui_cpu import CpuRun

PROCWATCH = "procwatch"
PS = "ps -eo pid,ppid,user,stat,args"
ONCE = "procwatch --once"


def label(n: int) -> str:
    return "idle" if n == 0 else f"{n:,}"


@dataclass
class Headline:
    procs: dict[str, int] = field(default_factory=dict)  # size label -> processes seen
    cpu: dict[str, CpuRun] = field(default_factory=dict)
    once: dict[str, dict[str, float]] = field(default_factory=dict)  # size -> command -> median wall s
    keys: dict[str, list[float]] = field(default_factory=dict)  # size -> key press to repaint, s
    refreshes: dict[str, tuple[int, float]] = field(default_factory=dict)  # size -> (updates, seconds)

    def ratio(self, size: str, peer: str, together: bool) -> float | None:
        run = self.cpu.get(size)
        if run is None:
            return None
        if together:
            mine, theirs = run.together.get(PROCWATCH), run.together.get(peer)
            a, b = (mine.percent if mine else None), (theirs.percent if theirs else None)
        else:
            a, b = run.alone_median(PROCWATCH), run.alone_median(peer)
        return a / b if a is not None and b else None

    def table(self, tools: list[str]) -> str:
        peers = [t for t in tools if t != PROCWATCH]
        out = ["| processes | " + " | ".join(tools) + " | procwatch / best peer (alone; together) |",
               "|" + "---|" * (len(tools) + 2)]
        for size, run in self.cpu.items():
            cells = []
            for tool in tools:
                alone, together = run.alone_median(tool), run.together.get(tool)
                cells.append("—" if alone is None else
                             f"{alone:.1f} % ({together.percent:.1f} %)" if together else f"{alone:.1f} %")
            measured = [p for p in peers if run.alone_median(p)]
            best = min(measured, key=lambda p: run.alone_median(p) or 0.0, default=None)
            verdict = "—"
            if best is not None:
                alone_r, together_r = self.ratio(size, best, False), self.ratio(size, best, True)
                verdict = f"{_x(alone_r)}; {_x(together_r)} {best}"
            out.append(f"| ~{self.procs.get(size, 0):,} ({size}) | " + " | ".join(cells) + f" | {verdict} |")
        for size, walls in self.once.items():
            if ONCE in walls and PS in walls:
                out.append(f"| `--once` at ~{self.procs.get(size, 0):,} (wall, median) | {walls[ONCE] * 1e3:.0f} ms |"
                           + " |" * (len(tools) - 1) + f" `ps` {walls[PS] * 1e3:.0f} ms: {_x(walls[ONCE] / walls[PS])} ps |")
        return "\n".join(out)

    def targets(self) -> str:
        lines = ["Targets (issue 12):"]

        def cpu_target(size: str, peer: str, limit: float, text: str) -> None:
            alone, together = self.ratio(size, peer, False), self.ratio(size, peer, True)
            if alone is None and together is None:
                lines.append(f"- {text}: not measured")
                return
            verdicts = [f"{how} {_x(r)} {'met' if r <= limit else 'missed'}"
                        for how, r in (("alone", alone), ("together", together)) if r is not None]
            lines.append(f"- {text}: " + ", ".join(verdicts))

        cpu_target("idle", "htop -t", 1.5, "1. idle: procwatch <= 1.5x htop -t")
        cpu_target("1,000", "top -d 1", 1.0, "2. ~1,000: procwatch <= top")
        cpu_target("5,000", "btop (tree)", 1.0, "2. ~5,000: procwatch <= btop (tree)")
        cpu_target("10,000", "htop -t", 0.5, "3. ~10,000: procwatch <= 0.5x htop -t")
        if "10,000" in self.refreshes:
            updates, seconds = self.refreshes["10,000"]
            lines.append(f"- 3. ~10,000: {updates} refreshes in {seconds:.0f} s at a 1 s interval: "
                         + ("met" if updates >= seconds - 1 else "missed"))
        if self.keys.get("10,000"):
            worst = max(self.keys["10,000"])
            lines.append(f"- 3. ~10,000: key press to repaint, worst of {len(self.keys['10,000'])}: "
                         f"{worst * 1e3:.0f} ms: " + ("met" if worst <= 0.05 else "missed"))
        for size in ("1,000", "5,000"):
            walls = self.once.get(size, {})
            if ONCE in walls and PS in walls:
                r = walls[ONCE] / walls[PS]
                lines.append(f"- 4. ~{size}: `--once` {_x(r)} ps: " + ("met" if r <= 1 else "missed"))
        run = self.cpu.get("5,000")
        readings = run.alone.get(PROCWATCH) if run else None
        if readings:
            peak = max(r.hwm_kib for r in readings) / 1024
            lines.append(f"- 5. ~5,000: TUI peak RSS {peak:.1f} MiB: " + ("met" if peak <= 60 else "missed"))
        return "\n".join(lines)


def _x(r: float | None) -> str:
    return "?" if r is None else f"{r:.2f}x"


HEADLINE = Headline()
