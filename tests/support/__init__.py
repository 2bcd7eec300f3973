"""Helpers shared by tests/engine, tests/ui and tests/sandbox, each written once.

    polling   wait_until / poll: every wait is a deadline-bounded poll on a condition, never a fixed sleep
    procs     facts about one process, always through procwatch.engine.procfs (no second /proc splitter here)
    ps        what procps `ps` prints, for comparison with ours
    children  the `children` fixture (kills and reaps what a test starts) and `no_leftover_children`
    tui       Pilot helpers: waiting for updates, reading rows and details

tests/conftest.py puts tests/ on sys.path, so `from support.X import ...` works from every folder.
"""
