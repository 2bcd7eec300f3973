"""The state file: where it is, atomic writes, a damaged or unreadable file set aside, never fatal."""

from __future__ import annotations

import os

from procwatch.engine.state import StateFile, state_dir


def test_it_lives_in_xdg_state_home_or_dot_local_state(tmp_path):
    assert state_dir({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "procwatch"
    home = os.path.expanduser("~")
    assert str(state_dir({})) == f"{home}/.local/state/procwatch"
    assert str(state_dir({"XDG_STATE_HOME": "relative/path"})) == f"{home}/.local/state/procwatch"  # XDG: ignored


def test_save_and_load_round_trip_atomically(tmp_path):
    state = StateFile(tmp_path / "deep" / "procwatch" / "state.json")
    assert state.load() == ({}, None)
    assert state.save({"theme": "nord", "collapsed": ["nginx: master"]}) is None
    assert state.load() == ({"theme": "nord", "collapsed": ["nginx: master"]}, None)
    assert state.save({"theme": "dracula"}) is None
    assert state.load() == ({"theme": "dracula"}, None)
    assert os.listdir(state.path.parent) == ["state.json"]  # no temporary file left behind
    assert (os.stat(state.path.parent).st_mode & 0o777) == 0o700


def test_a_damaged_file_is_set_aside_and_kept(tmp_path):
    for text in ('{"theme": ', "[1, 2]", '{"format": 99}', "\xff"):
        state = StateFile(tmp_path / "state.json")
        state.path.write_bytes(text.encode("latin-1"))
        values, notice = state.load()
        assert values == {} and notice is not None and "set aside as" in notice
        assert not state.path.exists()
        aside = [p for p in tmp_path.iterdir() if p.name.startswith("state.json.bad-")]
        assert len(aside) == 1 and aside[0].read_bytes() == text.encode("latin-1")
        aside[0].unlink()


def test_an_unreadable_file_and_an_unwritable_folder_are_notices_not_errors(tmp_path):
    (tmp_path / "state.json").mkdir()  # reading it fails (EISDIR), as an unreadable file would
    state = StateFile(tmp_path / "state.json")
    values, notice = state.load()
    assert values == {} and "Is a directory" in notice
    blocked = StateFile(tmp_path / "a-file" / "state.json")
    (tmp_path / "a-file").write_text("")
    notice = blocked.save({"theme": "nord"})
    assert notice is not None and "could not remember" in notice
