"""Regenerate the README screenshots from the scripted source: SVG from Textual, PNG via CairoSVG.

    .venv/bin/pip install -e '.[screenshots]' && .venv/bin/python screenshots/make_screenshots.py

The SVGs name the "Fira Code" web font; offline, CairoSVG would fall back to a proportional font and misalign
the columns, so the PNGs are drawn with DejaVu Sans Mono (Debian: fonts-dejavu-core), and Chinese with WenQuanYi Zen Hei Mono
(fonts-wqy-zenhei), whose CJK glyphs are two cells wide as the terminal draws them."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from pathlib import Path

os.environ["TEXTUAL_ANIMATIONS"] = "none"
os.environ["TZ"] = "UTC"
time.tzset()

from scenes import BY_NAME, Scene, play  # noqa: E402

from procwatch.engine import catalog  # noqa: E402
from procwatch.engine.fake import FakeCollector  # noqa: E402
from procwatch.ui.app import make_app  # noqa: E402

HERE = Path(__file__).parent


async def shoot(scene: Scene) -> Path:
    app = make_app(FakeCollector(), theme="textual-dark")
    try:
        async with app.run_test(size=scene.size) as pilot:
            await play(pilot, scene)
            path = HERE / f"{scene.name}.svg"
            app.save_screenshot(filename=path.name, path=str(HERE))
    finally:
        catalog.set_language("en")  # the language is process-wide: the next scene starts in English
    return path


async def shoot_sandbox(name: str = "sandbox", size: tuple[int, int] = (160, 45)) -> Path:
    """The sandbox needs real processes: real demos, the real collector, filtered to the demos."""
    from procwatch.engine.tree import ProcessFilter

    app = make_app(process_filter=ProcessFilter(text="demo-"), interval=0.25, theme="textual-dark")
    try:
        async with app.run_test(size=size) as pilot:
            while (app.last.number if app.last else 0) < 1:
                await pilot.pause(0.02)
            for key in ("z", "o"):
                await pilot.press(key)
                await pilot.pause(3.0)
            await pilot.press("b", "b")  # focus the recipe list
            await pilot.pause(0.5)
            path = HERE / f"{name}.svg"
            app.save_screenshot(filename=path.name, path=str(HERE))
    finally:
        if app.sandbox is not None:
            app.sandbox.close()
    return path


CJK = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+")


def to_png(svg: Path) -> None:
    """CairoSVG draws a text node with one font (no fallback per glyph): the Latin and box-drawing text gets DejaVu
    Sans Mono, and each run of CJK text its own span in WenQuanYi Zen Hei Mono (Debian: fonts-wqy-zenhei)."""
    import cairosvg

    text = svg.read_text().replace('"Fira Code"', '"DejaVu Sans Mono"').replace("Fira Code, monospace",
                                                                                 "DejaVu Sans Mono, monospace")
    text = CJK.sub(lambda m: f'<tspan style="font-family: WenQuanYi Zen Hei Mono">{m.group()}</tspan>', text)
    cairosvg.svg2png(bytestring=text.encode(), write_to=str(svg.with_suffix(".png")), output_width=1600)


async def main(names: list[str]) -> None:
    for name in names or [*BY_NAME, "sandbox"]:
        svg = await (shoot_sandbox() if name == "sandbox" else shoot(BY_NAME[name]))
        to_png(svg)
        print(f"wrote {svg} and {svg.with_suffix('.png')}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
