"""The sandbox: real demo processes in every ps state, narrated in the words of a processes tutorial.

No Textual here (the UI builds its panel on this API). Linux only.

API
---
    sb = Sandbox(on_event=None, max_demos=64, lifetime=1800.0, python=None)
    Sandbox.RECIPES                  ordered {key: Recipe(key, name, stat_shown, description, processes,
                                     snippet, branches)}; keys: R S D T t Z orphan N < L s l + Zl (a STAT each),
                                     then the tutorial's lessons (recipes.LESSON_KEYS): cow exits wait zombies
                                     nozombie first forkfail exec cores init-orphan; snippet: the tutorial-style
                                     code a demo acts out, branches: the lines each role runs
    Sandbox.check(key) -> str|None  why a recipe cannot work here, without starting anything (None: may work)
    sb.start()                       start the supervisor now; spawn() does it lazily on first use.
                                     Call it (or the first spawn) from the main thread.
    sb.spawn(key) -> Demo            the demo's main process, once in place; raises SandboxRefused("one line")
    sb.demos() -> list[Demo]         live demo processes (parents and helpers included), no blocking
    sb.reap(pid, start_ticks=None)         the zombie's parent calls os.wait() (pid: the zombie or its parent;
                                           Z and zombies demos: the latter's parent waits in a loop)
    sb.parent_exit(pid, start_ticks=None)  the zombie's parent exits; the supervisor adopts and reaps the zombie
    sb.stop(pid, start_ticks=None) / sb.cont(...) / sb.kill(...)   SIGSTOP / SIGCONT / SIGKILL to one demo
    sb.kill_all()                    SIGKILL every demo, reap them all; the supervisor stays
    sb.close()                       kill and reap everything, end the supervisor (a later spawn starts afresh)
    sb.supervisor_pid                None before the first demo (plain monitoring starts no process)
    Sandbox is a context manager (close on exit).

    Demo(pid, start_ticks, recipe, role, stat_shown, says, parent_pid, group, main, fields)
        .identity, .name, .current_stat() (STAT now, as ps composes it; None once that identity is gone)
        role: "demo" (one-process demo), "parent", "child", "orphan", "exec"
        says, fields: what this process is beyond its recipe's description, as a catalogue id ("" for nothing)
        and its values; procwatch.engine.words.demo_fact(says, fields) says it in the current language
    SandboxEvent(kind, story, pid, demo, time), delivered to on_event from a background reader thread
        (forward it with a thread-safe post_message):
        "story" a typed event for the narration (fork returned, exit called, wait returned, signal sent, adopted,
        a safety net acted...: procwatch.sandbox.protocol.STORY, no prose; words.sandbox_line says it) ·
        "added"/"removed" the demo list changed (demo set) · "started" the supervisor is up (pid) ·
        "exited" it is gone (story: SupervisorDied, only when it died abnormally)
    SandboxRefused(SandboxError): the message is one line, ready for the status bar.

Every method returns within milliseconds (the supervisor answers over a pipe); pid-taking methods accept the
start time so the UI can pass the identity it shows: a pid whose start time differs is refused, not signalled.

Design (DESIGN.md §4)
---------------------
procwatch --(stdin: JSON lines)--> supervisor --fork--> demos
procwatch <--(stdout: JSON lines)-- supervisor <--(report pipe: JSON lines)-- demos

- One supervisor (`python -m procwatch.sandbox.supervisor`, a fresh interpreter: forking the threaded Textual
  process is unsafe) started with start_new_session=True. It is a child subreaper, has a maximum lifetime, and
  ends on EOF of its stdin (procwatch died, even by SIGKILL): then it SIGKILLs its whole subtree (stopped and
  traced ones too), reaps it, and exits. Started from the main thread it also has PR_SET_PDEATHSIG(SIGKILL), which
  ends it even when it was stopped or traced and cannot act; its demos' own death signals then end them.
  Sandbox.close() gives it CLOSE_TIMEOUT (1 s) to close in order, then kills it and every demo it reported.
- Demos are forked by the single-threaded supervisor, never by procwatch. Each sets PR_SET_PDEATHSIG(SIGKILL)
  (checked against the expected parent), alarm(remaining lifetime); the busy loop has RLIMIT_CPU.
- The supervisor signals only processes in its registry, checking the identity (pid + start time from
  /proc/PID/stat field 22) and sending through a pidfd, so a reused pid is never hit.
- A cap on live demo processes (max_demos), with a clear refusal.
- The init-orphan demo leaves the supervisor's subtree on purpose: the supervisor clears its subreaper flag while
  the demo's middle process exits (a few ms), keeps the orphan's pid + start time and a pidfd, and kills it at
  cleanup; the orphan also watches a lifeline pipe that only the supervisor writes, so it ends with the
  supervisor however the supervisor ends, and it has its own timer.
"""

from procwatch.sandbox.client import Demo, Sandbox, SandboxError, SandboxEvent, SandboxRefused
from procwatch.sandbox.recipes import RECIPES, Recipe

__all__ = ["RECIPES", "Demo", "Recipe", "Sandbox", "SandboxError", "SandboxEvent", "SandboxRefused"]
