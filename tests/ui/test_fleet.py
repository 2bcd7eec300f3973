"""The fleet TUI (`procwatch --host ...`): the fleet view first, Enter into a host's tree, Esc back, a dead host shown
with its reason, signals through the host's channel. The hosts are this machine reached through a stand-in for ssh
that runs the remote command here (the real agent); tests/engine/test_fleet_ssh.py goes through a real sshd."""

from __future__ import annotations

import os
import signal

import pytest
from rich.cells import cell_len
from scenes import wait_for
from support.tui import notifications, shown_pids
from textual.app import App
from textual.widgets import DataTable, OptionList

from procwatch.engine import catalog
from procwatch.engine.remote import HostSpec, SshOptions
from procwatch.engine.tree import ProcessFilter
from procwatch.ui.fleet import COLUMNS, FleetScreen, header, make_fleet_app
from procwatch.ui.widgets.screens import ConfirmScreen, SignalScreen
from procwatch.view.fleet import HostSummary

pytestmark = pytest.mark.usefixtures("no_leftover_children")


@pytest.fixture
def local_ssh(tmp_path) -> SshOptions:
    path = tmp_path / "ssh"
    path.write_text('#!/bin/sh\nfor last; do :; done\n'
                    'for a; do [ "$a" = dead ] && { echo "ssh: connect to host dead port 22: Connection refused" >&2; '
                    'exit 255; }; [ "$a" = slow ] && exec sleep 60; done\nexec sh -c "$last"\n')
    path.chmod(0o755)
    return SshOptions(program=str(path))


def hosts(*labels: str) -> list[HostSpec]:
    return [HostSpec.parse(label) for label in labels]


def fleet_rows(app) -> list[list[str]]:
    table = app.screen.query_one(DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_fleet_view_then_a_hosts_tree_then_back(local_ssh, children):
    zombie = children.zombie(3)
    app = make_fleet_app(hosts("alpha", "dead"), local_ssh, interval=0.5)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="the fleet view")
        await wait_for(pilot, lambda: len(fleet_rows(app)) == 2 and fleet_rows(app)[0][1] != "-"
                       and "connection refused" in fleet_rows(app)[1][-1], what="both hosts summarised")
        alpha, dead = fleet_rows(app)
        assert alpha[0] == "alpha" and int(alpha[1]) > 5 and int(alpha[2]) >= 1 and alpha[-1] == "connected"
        assert dead[0] == "dead" and dead[1] == "-" and dead[-1].endswith("…")  # cut to fit 100 columns
        await pilot.press("down")
        detail = str(app.screen.query_one("#fleet-detail").render())
        assert "dead: disconnected: connection refused: no ssh server listens on that port; retry in" in detail
        await pilot.press("up")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, FleetScreen), what="the tree")
        await wait_for(pilot, lambda: zombie.pid in shown_pids(app), what="the test's zombie in alpha's tree")
        notes = app.last.observations.snapshot.notes
        assert notes[0].startswith("host alpha · connected")
        assert app.last.observations.zombies[zombie.pid].exit_code == 768
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="back to the fleet")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, FleetScreen), what="the dead host's tree")
        await wait_for(pilot, lambda: app.last is not None and app.last.observations.snapshot.notes[0].startswith(
            "host dead · disconnected: connection refused"), what="the dead host's state above its empty tree")
        assert shown_pids(app) == []
        await pilot.press("z")
        assert "the sandbox is local only" in notifications(app)[-1]


async def test_a_silent_host_stalls_nothing(local_ssh):
    app = make_fleet_app(hosts("slow", "alpha"), local_ssh, interval=0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="the fleet view")
        await wait_for(pilot, lambda: len(fleet_rows(app)) == 2 and fleet_rows(app)[0][1] != "-",
                       what="alpha summarised while slow says nothing")
        assert [row[0] for row in fleet_rows(app)] == ["alpha", "slow"]  # sorted by name
        assert fleet_rows(app)[1][-1] == "connecting"
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.last is not None and app.last.observations.snapshot.notes[0].startswith(
            "host slow · connecting"), what="slow's empty tree at once")
        await pilot.press("backspace", "up", "enter")
        await wait_for(pilot, lambda: len(shown_pids(app)) > 5, what="alpha's tree")


def shown_with(app, pid: int) -> bool:
    """`pid` is shown by an update of the host open now. (Opening another host clears `app.last`, and the table keeps
    the rows of the host shown before until that host's first update comes.)"""
    return app.last is not None and pid in shown_pids(app)


async def test_the_same_filter_applies_on_every_host(local_ssh, children):
    zombie = children.zombie(3)
    app = make_fleet_app(hosts("alpha", "beta"), local_ssh, ProcessFilter(states=frozenset("Z")), interval=0.5)
    async with app.run_test(size=(100, 30)) as pilot:
        pollers = []
        for step, host in enumerate(("alpha", "beta")):
            if step:
                await wait_for(pilot, lambda: app.last is not None and app.last.rows, what="a tree")
                await pilot.press("backspace")  # back, keeping the filter
            await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="the fleet view")
            await pilot.press(*["down"] * step, "enter")
            await wait_for(pilot, lambda: shown_with(app, zombie.pid), what="the zombie under the filter")
            assert app.host_collector.host.label == host
            # every row is a zombie or the ancestor of one, kept for context (whatever else runs on this machine)
            rows = [row for row in app.query_one("ProcessTable").rows if row.proc.pid in shown_pids(app)]
            assert rows and all(row.proc.state == "Z" or row.context for row in rows)
            assert app.view.process_filter.states == frozenset("Z")
            pollers.append(app.poller)
            if step == 0:  # a zombie made while alpha is shown: its events are in alpha's history
                late = children.zombie(3)
                await wait_for(pilot, lambda pid=late.pid: shown_with(app, pid), what="the new zombie on alpha")
                late_identity = app.last.observations.snapshot.procs[late.pid].identity
                assert app.poller.history.of(late_identity)
        await pilot.press("backspace", "up", "enter")  # alpha again: its own poller, with its history
        await wait_for(pilot, lambda: app.host_collector.host.label == "alpha" and shown_with(app, zombie.pid),
                       what="alpha again")
        assert app.poller is pollers[0] and not app.poller.paused and pollers[1].paused
        assert app.poller.history.of(late_identity)


async def signal_dialog_on(pilot, app, pid: int) -> None:
    """From the fleet view: open the host, put the cursor on `pid` and press k."""
    await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="the fleet view")
    await pilot.press("enter")
    await wait_for(pilot, lambda: pid in shown_pids(app), what="the process")
    assert app.query_one("ProcessTable").select_pid(pid)
    await pilot.press("k")


async def test_a_signal_goes_through_the_hosts_channel(local_ssh, children):
    sleeper = children.sleeper()
    app = make_fleet_app(hosts("alpha"), local_ssh, ProcessFilter(text=str(sleeper.pid)), interval=0.5)
    async with app.run_test(size=(100, 30)) as pilot:
        await signal_dialog_on(pilot, app, sleeper.pid)
        assert isinstance(app.screen, SignalScreen)
        options = app.screen.query_one(OptionList)
        options.highlighted = [options.get_option_at_index(i).id for i in range(options.option_count)].index("TERM")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: sleeper.poll() is not None, what="the sleeper ended by the remote agent")
        assert sleeper.returncode == -signal.SIGTERM
        await wait_for(pilot, lambda: any("sent SIGTERM" in n and "on alpha" in n for n in notifications(app)),
                       what="the notice")
    assert os.getpid() > 0


async def test_the_cursor_stays_on_its_host_when_the_order_changes(local_ssh):
    app = make_fleet_app(hosts("slow", "dead", "alpha"), local_ssh, interval=0.5)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="the fleet view")
        await wait_for(pilot, lambda: len(fleet_rows(app)) == 3 and fleet_rows(app)[1][-1].startswith("disconnected")
                       and fleet_rows(app)[0][-1] == "connected", what="alpha connected, dead disconnected")
        assert [row[0] for row in fleet_rows(app)] == ["alpha", "dead", "slow"]
        await pilot.press("down")  # on dead
        await pilot.press("s", "s", "s", "s")  # host -> zombies -> not reaping -> processes -> state
        assert app.screen.sort == "state"
        await wait_for(pilot, lambda: [row[0] for row in fleet_rows(app)] == ["alpha", "slow", "dead"],
                       what="connected, connecting, disconnected")
        assert fleet_rows(app)[app.screen.query_one(DataTable).cursor_row][0] == "dead"


class ScriptedFleet:
    """What FleetScreen reads from a FleetMonitor, fixed: for the snapshot."""

    def __init__(self) -> None:
        self.rows = [
            HostSummary("web1", "connected", "", "python", "3.11.2", 1234, zombies=3, not_reaping=1, orphans=2,
                        disk_sleep=1, stopped=0, age=0.4),
            HostSummary("db@db1:2222", "connected", "", "ps", "", 312, zombies=0, not_reaping=0, orphans=5,
                        disk_sleep=0, stopped=2, age=1.2),
            HostSummary("lab\x1b[31m", "disconnected", "authentication failed (permission denied): no key or agent "
                        "ssh could use without asking", "", "", None, retry_in=9.6),
            HostSummary("edge", "connecting", "", "", "", None),
        ]
        self.hosts = [HostSpec.parse("x")] * len(self.rows)

    def summaries(self) -> list[HostSummary]:
        return list(self.rows)


class FleetOnly(App):
    def on_mount(self) -> None:
        self.push_screen(FleetScreen(ScriptedFleet()))  # type: ignore[arg-type]


def test_fleet_view_snapshot(snap_compare):
    """One row per host; a host label with an escape sequence is shown escaped; the long reason in full below."""
    app = FleetOnly()
    app.theme = "textual-dark"
    assert snap_compare(app, terminal_size=(80, 24), run_before=lambda pilot: pilot.press("down", "down"))


async def test_readonly_sends_nothing_to_a_remote_either(local_ssh, children):
    sleeper = children.sleeper()
    app = make_fleet_app(hosts("alpha"), local_ssh, ProcessFilter(text=str(sleeper.pid)), interval=0.5,
                         readonly=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await signal_dialog_on(pilot, app, sleeper.pid)
        await pilot.pause()
        assert not isinstance(app.screen, SignalScreen)
        assert sleeper.poll() is None
        assert notifications(app)


def shown_keys(app) -> dict[str, str]:
    """What the footer (or the key panel) says for each key of the screen shown: {key: word}. (The fleet view's
    Enter is there once the table has the focus: the table's own Enter, unlabelled, then comes first.)"""
    shown = {key: b.binding.description for key, b in app.screen.active_bindings.items() if b.binding.show}
    if isinstance(app.screen, FleetScreen):
        shown.setdefault("enter", app.screen._bindings.key_to_bindings["enter"][0].description)
    return shown


def fleet_words(app) -> tuple[list[str], str]:
    """The fleet table's headers, and its title."""
    table = app.screen.query_one(DataTable)
    return [str(column.label) for column in table.columns.values()], str(app.screen.query_one("#fleet-title").render())


async def test_the_fleet_view_and_the_dialogs_speak_chinese(local_ssh, children):
    """Started in Chinese: the fleet view's keys, headers and title, then the signal dialog and its confirmation."""
    catalog.set_language("zh")
    sleeper = children.sleeper()
    app = make_fleet_app(hosts("alpha"), local_ssh, ProcessFilter(text=str(sleeper.pid)), interval=0.5)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and fleet_words(app)[1],
                       what="the fleet view")
        assert shown_keys(app) == {"enter": "打开主机", "s": "排序", "L": "English", "q": "退出"}
        headers, title = fleet_words(app)
        assert headers == ["主机", "进程", "僵尸", "未回收", "孤儿", "D", "T", "更新", "状态"]
        assert "1 台主机 · 排序: 主机" in title
        await signal_dialog_on(pilot, app, sleeper.pid)
        assert isinstance(app.screen, SignalScreen) and shown_keys(app)["escape"] == "取消"
        await pilot.press("enter")  # the first signal: TERM
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert shown_keys(app)["escape"] == "否" and shown_keys(app)["y"] == "是"
        await pilot.press("n")
        await pilot.pause()
        assert sleeper.poll() is None
        await pilot.press("backspace")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="back to the fleet")
        assert shown_keys(app)["q"] == "退出"


async def test_the_fleet_view_switches_language_live(local_ssh):
    app = make_fleet_app(hosts("dead"), local_ssh, interval=0.5)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and fleet_words(app)[1],
                       what="the fleet view")
        await pilot.press("s")  # sorted by zombies: the title names the column
        assert shown_keys(app) == {"enter": "Open host", "s": "Sort", "L": "中文", "q": "Quit"}
        assert fleet_words(app)[0][3] == "not reaping" and "sort: zombies" in fleet_words(app)[1]
        await pilot.press("L")
        await pilot.pause()
        assert catalog.current() == "zh"
        assert shown_keys(app) == {"enter": "打开主机", "s": "排序", "L": "English", "q": "退出"}
        headers, title = fleet_words(app)
        assert headers[3] == "未回收" and "排序: 僵尸" in title
        await wait_for(pilot, lambda: fleet_rows(app)[0][-1].startswith("已断开"), what="the state in Chinese")
        await pilot.press("enter")  # the host's tree: the app's keys, and Backspace back, in Chinese too
        await wait_for(pilot, lambda: not isinstance(app.screen, FleetScreen), what="the tree")
        assert shown_keys(app)["backspace"] == "主机列表" and shown_keys(app)["q"] == "退出"
        await pilot.press("backspace")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="back to the fleet")
        await pilot.press("L")
        await pilot.pause()
        assert catalog.current() == "en" and shown_keys(app)["s"] == "Sort"
        assert fleet_words(app)[0] == ["host", "procs", "zombies", "not reaping", "orphans", "D", "T", "age", "state"]


@pytest.mark.parametrize("lang", list(catalog.LANGUAGES))
def test_the_fleet_headers_fit_the_width_the_layout_assumes(lang):
    """OTHER_CELLS (what the columns but the state take) was measured with the English headers: no language may
    need more cells for them (a CJK character takes two)."""
    with catalog.using("en"):
        english = [cell_len(header(column)) for column in COLUMNS[:-1]]
    with catalog.using(lang):
        assert sum(cell_len(header(column)) for column in COLUMNS[:-1]) <= sum(english)
