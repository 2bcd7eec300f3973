"""Pilot tests of the sandbox panel against real demo processes (made by the sandbox supervisor)."""

from __future__ import annotations

import os
import subprocess

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from support.procs import own_children, read_stat
from support.tui import applied, plain_text, row_text, shown_pids, shown_state, table, wait_for

from procwatch.ui.app import make_app
from procwatch.ui.widgets.sandbox_panel import SandboxPanel

SIZE = (160, 45)


def alive(identity) -> bool:
    """The identity exists, zombie or not."""
    stat = read_stat(identity[0])
    return stat is not None and int(stat[1][19]) == identity[1]


def ps_stat(pid: int) -> str:
    return subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()


async def test_z_and_o_keys_make_a_zombie_and_an_orphan_shown_in_the_tree():
    app = make_app(interval=0.25)
    started = []
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
            await pilot.press("z")
            panel = app.query_one(SandboxPanel)
            assert panel.has_class("open")
            await wait_for(pilot, lambda: any(d.recipe == "Z" and d.role == "child" for d in app.sandbox.demos()),
                           what="the zombie demo")
            zombie = next(d for d in app.sandbox.demos() if d.recipe == "Z" and d.role == "child")
            started = [d.identity for d in app.sandbox.demos()] + [app.sandbox.supervisor_identity]
            # a sweep may have caught the child alive, before it exited (the demo is ready once it is a zombie)
            await wait_for(pilot, lambda: shown_state(app, zombie.pid) == "Z" and table(app).selected is not None
                           and table(app).selected.pid == zombie.pid, what="the zombie in the tree, selected")
            assert "zombie, exit 3" in row_text(app, zombie.pid) and ps_stat(zombie.pid) == "Z"
            assert "not reaping 1 zombie" in row_text(app, zombie.parent_pid)
            assert table(app).selected.pid == zombie.pid  # the cursor goes to the new demo
            assert any("os._exit(3)" in line for line in panel.narration)
            assert any("fork() returned" in line for line in panel.narration)

            await pilot.press("o")
            await wait_for(pilot, lambda: any(d.role == "orphan" for d in app.sandbox.demos()), what="the orphan demo")
            orphan = next(d for d in app.sandbox.demos() if d.recipe == "orphan" and d.role == "orphan")
            started += [d.identity for d in app.sandbox.demos()]
            await wait_for(pilot, lambda: orphan.pid in shown_pids(app)
                           and orphan.pid in app.last.observations.orphans, what="the orphan in the tree")
            evidence = app.last.observations.orphans[orphan.pid]
            assert evidence.evidence == "reparented" and evidence.adopter == app.sandbox.supervisor_pid
            assert not evidence.adopter_is_init and evidence.old_parent != orphan.parent_pid
            assert f"adopted by {app.sandbox.supervisor_pid}" in row_text(app, orphan.pid)
            assert any("adopted by the sandbox supervisor" in line for line in panel.narration)

            # w on the zombie's row in the demo list: its parent calls wait()
            demos = panel.demo_rows
            panel.query_one("#demos").move_cursor(row=demos.index(zombie))
            panel.query_one("#demos").focus()
            await pilot.press("w")
            await wait_for(pilot, lambda: any("reaped" in line and str(zombie.pid) in line
                                              for line in panel.narration), what="the wait() narration")
            assert any("status 768" in line for line in panel.narration)
            await wait_for(pilot, lambda: not alive(zombie.identity), what="the zombie gone")
    finally:
        if app.sandbox is not None:
            app.sandbox.close()
    assert started and not [identity for identity in started if identity and alive(identity)]


async def test_no_sandbox_flag_refuses_demos_and_starts_nothing():
    app = make_app(interval=0.25, sandbox=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
        await pilot.press("z")
        await pilot.pause()
        assert app.sandbox is None and not app.query(SandboxPanel)
        assert any("--no-sandbox" in n.message for n in app._notifications)


async def test_plain_monitoring_starts_no_process():
    app = make_app(interval=0.25)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: applied(app) >= 2, what="two updates")
        assert app.sandbox is None
        assert own_children() == []



async def test_a_lesson_shows_its_snippet_and_the_program_a_demo_execs():
    """The recipe list holds the tutorial's lessons, each with its snippet; a demo that execs another program
    shows that program in the tree (same pid, new name), not the sandbox's label."""
    from procwatch.sandbox import RECIPES
    from procwatch.sandbox.recipes import LESSON_KEYS

    app = make_app(interval=0.25)
    started = []
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: applied(app) >= 1, what="the first update")
            await pilot.press("b")
            panel = app.query_one(SandboxPanel)
            recipes = panel.query_one("#recipes")
            assert [recipes.get_option_at_index(i).id for i in range(recipes.option_count)] == list(RECIPES)
            assert set(LESSON_KEYS) <= set(RECIPES)
            recipes.highlighted = list(RECIPES).index("exec")
            await pilot.pause()
            snippet = panel.query_one("#snippet")
            assert snippet.has_class("shown") and "os.execvp" in str(snippet.render())
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.sandbox is not None
                           and any(d.role == "exec" for d in app.sandbox.demos()), what="the exec demo")
            runs = [d for d in app.sandbox.demos() if d.recipe == "exec"]
            started = [d.identity for d in runs] + [app.sandbox.supervisor_identity]
            second = next(d for d in runs if d.role == "exec")
            await wait_for(pilot, lambda: second.pid in shown_pids(app)
                           and " sleep " in row_text(app, second.pid), timeout=10,
                           what="the exec'd program in the tree")
            first = next(d for d in runs if d.role == "child")
            assert " sleep " in row_text(app, first.pid)  # the same program, another pid
            assert "(sandbox)" in row_text(app, first.parent_pid)  # their parent keeps its label
            assert any(f"same pid {second.pid}, new program sleep" in line for line in panel.narration)
            # the title says what the highlighted process is, in the language of the moment: a switch re-says it
            panel.query_one("#demos").move_cursor(row=panel.demo_rows.index(second))
            await pilot.pause()
            title = panel.query_one("#sandbox-title")
            assert plain_text(title.content, width=2000).startswith(
                f"{second.pid} exec: Run 2: it runs as demo-exec for 2 s, then execs sleep: same pid, new name. "
                "A program is a file")
            await pilot.press("L")
            await pilot.pause()
            await pilot.pause()  # what the switch posted (the recipe list's highlight) is handled by now
            assert plain_text(title.content, width=2000).startswith(
                f"{second.pid} exec: 第 2 次运行: 它先以 demo-exec 运行 2 秒, 然后 exec sleep: PID 不变, 换成新的名字。"
                "程序是一个文件")
    finally:
        if app.sandbox is not None:
            app.sandbox.close()
    assert started and not [identity for identity in started if identity and alive(identity)]
