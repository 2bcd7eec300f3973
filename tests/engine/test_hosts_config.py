"""The config file's [[hosts]] list, `--group`, `--ssh-option` (and the `ssh-option` key) and `--user` with
`--host`: bad entries are one line naming the file, line and key (exit 2); the list is chosen from with --group
or --host and never used by default; through a real OpenSSH server on loopback (tests/support/sshd.py), where the
hosts exist only in procwatch's config (their address and keys are ssh options there)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport settings.py uses there too
    import tomli as tomllib

import pytest
from support.polling import DEADLINE
from support.procs import REPO

from procwatch import settings
from procwatch.cli import build_parser, main

pytestmark = pytest.mark.usefixtures("no_leftover_children")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "procwatch", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=DEADLINE * 4)


def write_config(text: str) -> str:
    path = settings.config_path()  # in the test's own XDG_CONFIG_HOME (conftest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


BAD = [  # (file, line, what the message names)
    ('interval = 2\n[[hosts]]\nhost = "a b"\n', 3, "hosts.host: 'a b' is not [user@]HOST[:PORT]"),
    ('[[hosts]]\nhost = "-oProxyCommand=x"\n', 2, "hosts.host: '-oProxyCommand=x': a host or user may not start"),
    ('[[hosts]]\nhost = "web1:70000"\n', 2, "hosts.host: 'web1:70000': port 70000 is not from 1 to 65535"),
    ('[[hosts]]\nhost = 3\n', 2, "hosts.host: expected a string, got an integer (3)"),
    ('[[hosts]]\nhost = "a"\n\n[[hosts]]\ngroup = "web"\n', 4, 'hosts: a [[hosts]] table without host = '
     '"[USER@]HOST[:PORT]"'),
    ('[[hosts]]\nhost = "a"\ngroup = "web"\ncolour = "red"\n', 4, "hosts.colour: unknown key; a [[hosts]] table "
     "has host, group, groups, ssh-option"),
    ('[[hosts]]\nhost = "a"\ngrups = ["web"]\n', 3, "hosts.grups: unknown key; did you mean 'groups'?"),
    ('[[hosts]]\nhost = "a"\ngroup = ["web"]\n', 3, 'hosts.group: expected a string, got an array (["web"])'),
    ('[[hosts]]\nhost = "a"\ngroups = "web"\n', 3, 'hosts.groups: expected an array of strings, got a string'),
    ('[[hosts]]\nhost = "a"\ngroups = ["web", "we b"]\n', 3, "hosts.groups: 'we b' is not a group name"),
    ('[[hosts]]\nhost = "a"\nssh-option = ["ControlPath=/tmp/x"]\n', 3, "hosts.ssh-option: 'ControlPath=/tmp/x': "
     "procwatch sets ControlPath itself"),
    ('[[hosts]]\nhost = "a"\nssh-option = [1]\n', 3, "hosts.ssh-option: expected a string or an array of strings"),
    ('[[hosts]]\nhost = "a"\n[[hosts]]\nhost = "b"\n[[hosts]]\nhost = "a"\n', 6, "hosts.host: 'a' is listed twice "
     "(first at line 2)"),
    ('hosts = "web1"\n', 1, "hosts: expected [[hosts]] tables"),
    ('[hosts]\nhost = "web1"\n', 1, "hosts: expected [[hosts]] tables"),
    ('host = "web1"\n', 1, "host: unknown setting; did you mean 'hosts'?"),
    ('ssh-option = "-F /etc/passwd"\n', 1, "ssh-option: '-F /etc/passwd' is not an ssh option"),
    ('ssh-option = ["BatchMode=no"]\n', 1, "ssh-option: 'BatchMode=no': procwatch sets BatchMode itself"),
    ('ssh-option = 3\n', 1, "ssh-option: expected a string or an array of strings, got an integer (3)"),
    ('group = "web"\n', 1, "group: unknown setting"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD, ids=[f"{b[2].split(':')[0]}-{i}" for i, b in enumerate(BAD)])
def test_a_bad_hosts_entry_is_one_line_naming_file_line_and_key(text, line, message, capsys):
    path = write_config(text)
    assert main(["--print-config"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith(f"procwatch: {path}:{line}: {message}"), err


def test_a_bad_hosts_entry_stops_every_mode_in_one_line_and_check_says_unknown():
    path = write_config('[[hosts]]\nhost = "web1"\ngroup = 7\n')
    said = f"{path}:3: hosts.group: expected a string, got an integer (7)"
    for mode in ("--once", "--watch", ""):
        result = run(*mode.split())
        assert (result.returncode, result.stdout, result.stderr) == (2, "", f"procwatch: {said}\n")
    result = run("--check")
    assert (result.returncode, result.stdout) == (3, f"PROCS UNKNOWN: {said}\n")  # 2 would read as CRITICAL


def test_print_config_shows_an_example_then_the_hosts_and_reads_back_the_same(tmp_path):
    empty = run("--no-config", "--print-config")
    assert "# [[hosts]]\n# host = \"web1\"\n" in empty.stdout and "# ssh-option = [\"ProxyJump=bastion\"]" in \
        empty.stdout
    assert tomllib.loads(empty.stdout) == {"keymap": {}}  # the example stays commented out
    write_config('ssh-option = "ServerAliveInterval=5"\n\n[[hosts]]\nhost = "web1"\ngroup = "web"\ngroups = ["eu", '
                 '"web"]\n\n[[hosts]]\nhost = "deploy@[::1]:2222"\nssh-option = ["ProxyJump=bastion", "Ciphers '
                 'aes128-ctr,aes256-ctr"]\n\n[keymap]\n"app.help" = "f1"\n')
    printed = run("--print-config").stdout
    data = tomllib.loads(printed)
    assert data["hosts"] == [{"host": "web1", "groups": ["web", "eu"]}, {
        "host": "deploy@[::1]:2222", "ssh-option": ["ProxyJump=bastion", "Ciphers aes128-ctr,aes256-ctr"]}]
    assert data["ssh-option"] == "ServerAliveInterval=5" and data["keymap"] == {"app.help": "f1"}
    copy = tmp_path / "copy.toml"
    copy.write_text(printed)
    assert tomllib.loads(run("--config", str(copy), "--print-config").stdout) == data


def test_the_readme_hosts_example_is_accepted(tmp_path):
    readme = (pathlib.Path(REPO) / "README.md").read_text()
    blocks = [block.split("```", 1)[0] for block in readme.split("```toml\n")[1:]]
    example = next(block for block in blocks if "[[hosts]]" in block)
    (tmp_path / "config.toml").write_text(example)
    result = run("--config", str(tmp_path / "config.toml"), "--print-config")
    assert result.returncode == 0, result.stderr
    data = tomllib.loads(result.stdout)
    assert [h["host"] for h in data["hosts"]] == ["web1", "deploy@db1:2222"]
    assert data["hosts"][1]["ssh-option"] == ["ProxyJump=bastion"]


def test_ssh_option_flags_replace_the_files_list_as_every_flag_replaces_its_key():
    """ssh keeps the first value it gets for an option: appending the flags to the file's list would let the file
    win over the command line."""
    write_config('ssh-option = ["ProxyJump=bastion", "ServerAliveInterval=5"]\n')
    for argv, expected in (([], ["ProxyJump=bastion", "ServerAliveInterval=5"]),
                           (["--ssh-option", "ProxyJump=other"], ["ProxyJump=other"])):
        parser = build_parser()  # one per run, as main makes it (resolve sets the file's values as its defaults)
        chosen = settings.resolve(parser, argv, parser.parse_args(argv), remember=False)
        assert chosen.args.ssh_option == expected


def test_the_list_is_not_used_without_group_or_host(children):
    """procwatch alone watches this machine, even when the config lists hosts (here: unreachable ones)."""
    write_config('[[hosts]]\nhost = "127.0.0.1:1"\ngroup = "web"\n')
    sleeper = children.sleeper()
    result = run("--once", "--json", "--filter", str(sleeper.pid))
    assert result.returncode == 0 and result.stderr == ""
    objects = json.loads(result.stdout)
    assert sleeper.pid in {o["pid"] for o in objects} and not any("host" in o for o in objects)
    result = run("--once", "--group", "db")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"--group: no host of {settings.config_path()} is in group 'db' (groups: all, web)" in result.stderr


def lab_config(sshd_hosts, a, b) -> str:
    """Two hosts known only to procwatch's config: address, port, key and known hosts are ssh options there."""
    common = [f"UserKnownHostsFile={sshd_hosts.known_hosts}", "GlobalKnownHostsFile=/dev/null",
              "StrictHostKeyChecking=yes", f"IdentityFile={sshd_hosts.client_key}", "IdentitiesOnly=yes",
              "IdentityAgent=none", "PasswordAuthentication=no", "LogLevel=ERROR"]
    return (f'ssh-config = "/dev/null"\nssh-option = {json.dumps(common)}\n\n'
            f'[[hosts]]\nhost = "lab-a"\ngroup = "web"\nssh-option = ["HostName=127.0.0.1", "Port={a.port}"]\n\n'
            f'[[hosts]]\nhost = "{sshd_hosts.user}@lab-b"\ngroups = ["db", "eu"]\n'
            f'ssh-option = ["HostName 127.0.0.1", "Port {b.port}"]\n')


def test_groups_and_named_hosts_choose_from_the_list_with_their_ssh_options(sshd_hosts, children):
    a, b = sshd_hosts.start("unused-a"), sshd_hosts.start("unused-b")
    write_config(lab_config(sshd_hosts, a, b))
    sleeper = children.sleeper()
    lab_b = f"{sshd_hosts.user}@lab-b"

    def hosts_of(*args: str) -> list[str]:
        result = run("--once", "--json", "--filter", str(sleeper.pid), *args)
        assert result.returncode == 0, result.stderr
        return [o["host"] for o in json.loads(result.stdout) if o["pid"] == sleeper.pid]  # (this procwatch matches
        # the filter too: its command line has the pid)

    assert hosts_of("--group", "web") == ["lab-a"]
    assert hosts_of("--group", "eu") == [lab_b]
    assert hosts_of("--group", "all") == ["lab-a", lab_b]  # in the file's order
    assert hosts_of("--group", "db,web") == [lab_b, "lab-a"]  # in the order asked for
    assert hosts_of("--group", "web", "--group", "all") == ["lab-a", lab_b]  # each host once
    assert hosts_of("--host", lab_b) == [lab_b]  # named: with its ssh-option from the file
    failed = run("--once", "--host", "lab-a", "--ssh-option", "LogLevel=ERROR")  # replaces the file's options
    assert failed.returncode == 1 and failed.stderr.startswith("procwatch: lab-a: "), failed.stderr


def test_user_with_host_is_the_remotes_to_judge(sshd_hosts, children):
    """`--user` is not checked against this machine's users when a remote is watched; a uid matches the remote's
    uid. Without a host, an unknown user is still refused at once."""
    sshd_hosts.start("remote-a")
    sleeper = children.sleeper()
    config = str(sshd_hosts.config)
    local = run("--once", "--user", "nosuchuser-pw")
    assert local.returncode == 2 and local.stderr == "procwatch: --user: unknown user 'nosuchuser-pw' (see " \
        "procwatch --help)\n"
    remote = run("--once", "--json", "--host", "remote-a", "--ssh-config", config, "--user", "nosuchuser-pw")
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout) == []  # accepted, and nobody there is called that
    by_uid = run("--once", "--json", "--host", "remote-a", "--ssh-config", config, "--user", str(os.getuid()))
    objects = json.loads(by_uid.stdout)
    assert sleeper.pid in {o["pid"] for o in objects} and {o["uid"] for o in objects} == {os.getuid()}
    write_config('user = "nosuchuser-pw"\n')
    assert run("--once", "--json", "--host", "remote-a", "--ssh-config", config).returncode == 0
    from_file = run("--once")
    assert from_file.returncode == 2
    assert from_file.stderr == f"procwatch: {settings.config_path()}:1: user: unknown user 'nosuchuser-pw'\n"
