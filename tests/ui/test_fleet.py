"""The fleet TUI (`procwatch --host ...`): the fleet view first, Enter into a host's tree, Esc back, a dead host shown
with its reason, signals through the host's channel. The hosts are this machine reached through a stand-in for ssh
that runs the remote command here (the real agent); tests/engine/test_fleet_ssh.py goes through a real sshd."""

from __future__ import annotations

import os
import signal

import pytest
from scenes import wait_for
from support.tui import notifications, shown_pids
from textual.app import App
from textual.widgets import DataTable, OptionList

from procwatch.engine.remote import HostSpec, SshOptions
from procwatch.engine.tree import ProcessFilter
from procwatch.ui.fleet import FleetScreen, make_fleet_app
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
