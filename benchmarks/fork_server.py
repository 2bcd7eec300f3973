"""The fork server of idle_procs.py, and the shape of the tree it forks (tree_spec).

Run as `python -S fork_server.py LIFETIME READY_FD` in a session of its own. It reads a tree spec (one JSON line)
on stdin and forks it: inner nodes are forked Python processes that sleep in `signal.pause()`, most leaves are
`/bin/sleep LIFETIME` started by `posix_spawn`. Every process ready writes one byte to READY_FD ("!" on a failure).
It takes its whole process group down when its stdin reaches EOF (the controller closed it or died), when its
parent dies (PR_SET_PDEATHSIG -> SIGHUP -> SIGKILL to the group), or after LIFETIME seconds.
"""

from __future__ import annotations

import os
import signal
import sys

SLEEP = "/bin/sleep"
PR_SET_PDEATHSIG = 1


# --------------------------------------------------------------------------------------------------------------
# The server (imports as little as possible: every Python node is a fork of it)
# --------------------------------------------------------------------------------------------------------------

def _kill_own_group(signum=None, frame=None) -> None:
    os.killpg(0, signal.SIGKILL)


def serve(lifetime: int, ready_fd: int) -> None:
    import ctypes
    import json

    libc = ctypes.CDLL(None, use_errno=True)
    os.set_inheritable(ready_fd, False)  # not into the exec'd sleeps
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # The death signal of the server and of every Python node: the parent died -> SIGKILL the *whole group*
    # (the sleep leaves have no death signal of their own). Inherited by the forked nodes.
    signal.signal(signal.SIGHUP, _kill_own_group)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGHUP, 0, 0, 0)
    if os.getppid() == 1:  # the controller already died
        os._exit(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    sleep_args = ["sleep", str(lifetime)]
    env = {"PATH": "/usr/bin:/bin"}
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)]
    spec = json.loads(sys.stdin.buffer.readline())

    def build(children: list) -> None:
        """Called inside a Python node: start its children, then report them (and itself) as ready."""
        spawned = 0
        for kind, grandchildren in children:
            if kind == "sleep":
                os.posix_spawn(SLEEP, sleep_args, env, file_actions=actions)
                spawned += 1
                continue
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    libc.prctl(PR_SET_PDEATHSIG, signal.SIGHUP, 0, 0, 0)
                    if os.getppid() != parent:
                        os._exit(1)
                    signal.alarm(lifetime)  # self-destruct (default action of SIGALRM: terminate)
                    build(grandchildren)
                    os.close(ready_fd)
                    while True:
                        signal.pause()
                except BaseException:
                    code = 1
                    try:
                        os.write(ready_fd, b"!")
                    except OSError:
                        pass
                finally:
                    os._exit(code)
        os.write(ready_fd, b"." * (spawned + 1))

    try:
        build(spec)
    except BaseException as error:  # e.g. fork: EAGAIN. Tell the controller at once instead of letting it wait.
        try:
            os.write(ready_fd, b"!")
            os.write(2, f"idle_procs server: {error!r}\n".encode())
        except OSError:
            pass
    os.close(ready_fd)
    try:
        while os.read(0, 4096):  # until EOF: the controller closed the pipe or died
            pass
    finally:
        _kill_own_group()  # our own group: everything this server started


# --------------------------------------------------------------------------------------------------------------
# Tree shape
# --------------------------------------------------------------------------------------------------------------

def tree_spec(n: int, seed: int = 5) -> list:
    """Children of the fork server for a group of n processes in total (the server included).

    A mix like a busy machine: worker pools (one parent with 50-400 children; a third of the children are
    Python nodes, the rest `sleep`), shell-like chains of depth 2-8, and small 3-level trees. Deterministic.
    Node = [kind, children] with kind "py" (a forked Python node, may have children) or "sleep" (a leaf).
    """
    import random

    rng = random.Random(seed)
    budget = n - 1
    spec: list = []
    chains_budget, small_budget = budget * 15 // 100, budget * 15 // 100

    def leaf() -> list:
        return ["py", []] if rng.random() < 1 / 3 else ["sleep", []]

    while chains_budget >= 2:  # py -> py -> ... -> sleep
        depth = min(rng.randint(2, 8), chains_budget)
        node: list = ["sleep", []]
        for _ in range(depth - 1):
            node = ["py", [node]]
        spec.append(node)
        chains_budget -= depth
    while small_budget >= 10:  # py -> 3 x (py -> 2 x sleep)
        spec.append(["py", [["py", [leaf(), leaf()]] for _ in range(3)]])
        small_budget -= 10
    budget -= sum(_count(node) for node in spec)
    while budget > 0:  # worker pools
        kids = min(rng.randint(50, 400), budget - 1)
        spec.append(["py", [leaf() for _ in range(kids)]])
        budget -= kids + 1
    return spec


def _count(node: list) -> int:
    return 1 + sum(_count(child) for child in node[1])


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
