"""The guided lesson: steps in the order of the tutorial's sections (../shared/seed), each a demo to start (a
sandbox recipe key) or a process to look at, with what to watch in the catalogue (`lesson.<id>.title`, `.body`).
Data only: the UI runs it (procwatch.ui.lesson_controller). Standard library only."""

from __future__ import annotations

from typing import NamedTuple


class Step(NamedTuple):
    id: str  # message ids lesson.<id>.title and lesson.<id>.body
    recipe: str | None  # the sandbox demo this step starts; None: look at the live tree
    select: int | None = None  # a pid to put the cursor on when there is no demo (1: init, a root of the tree)


STEPS: tuple[Step, ...] = (
    Step("multitask", "cores"),  # 多任务编程: 并行 vs 并发
    Step("program", "exec"),  # 程序 vs 进程
    Step("tree", None, select=1),  # 父子进程, PID, pstree: two roots
    Step("ready_running", "R"),  # 三态: 就绪态 / 运行态, 时间片
    Step("waiting", "S"),  # 等待态 (S)
    Step("disk", "D"),  # D: 不可中断等待
    Step("stopped", "T"),  # T: 暂停
    Step("flags", "N"),  # STAT flags: < N L s l +
    Step("fork", "first"),  # os.fork: two return values, who runs first
    Step("copy", "cow"),  # 父子进程的变量域
    Step("exit", "exits"),  # os._exit vs sys.exit, SystemExit
    Step("orphan", "orphan"),  # 孤儿进程, 收养
    Step("zombie", "Z"),  # 僵尸进程: then w (wait) or p (the parent exits)
    Step("zombies", "zombies"),  # many zombies: their cost
    Step("wait", "wait"),  # os.wait() blocks, returns (pid, status)
    Step("avoid", "nozombie"),  # avoiding zombies
)
