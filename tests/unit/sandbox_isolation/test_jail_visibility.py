"""What a command inside the jail sees: a non-root user, one writable workspace, read-only
data, nothing of the host's private folders, the task's hidden files or environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

import kubegym
from kubegym.sandbox import isolation
from tests.unit.sandbox_isolation.conftest import EVALUATOR, HIDDEN_DATA, Dirs
from tests.unit.sandbox_isolation.jailrun import python, run

MakeJail = Callable[..., isolation.Jail]


def test_commands_run_as_a_non_root_user_with_a_name(jail_factory: MakeJail) -> None:
    code, out = run(jail_factory(), ["sh", "-c", "id -u; id -g; whoami; echo $HOME; pwd"])
    assert code == 0, out
    assert out.split() == ["1000", "1000", isolation.USER, "/workspace", "/workspace"]


def test_the_workspace_is_writable_and_files_land_on_the_host(
    jail_factory: MakeJail, dirs: Dirs
) -> None:
    code, out = run(jail_factory(), ["sh", "-c", "echo result > /workspace/out.txt"])
    assert code == 0, out
    written = dirs.workspace / "out.txt"
    assert written.read_text() == "result\n"
    # Inside uid 1000 maps to whoever started the jail (you, on a laptop), never to the
    # host's root: a jail that root starts runs as the unprivileged HOST_ID.
    expected = isolation.HOST_ID if os.geteuid() == 0 else os.getuid()
    assert written.stat().st_uid == expected


def test_read_only_binds_are_readable_but_not_writable(jail_factory: MakeJail, dirs: Dirs) -> None:
    jail = jail_factory(read_only=[(dirs.data, "/data"), (dirs.data, "/workspace/data")])
    for where in ("/data", "/workspace/data"):
        code, out = run(jail, ["cat", f"{where}/train.csv"])
        assert (code, out) == (0, "x,y\n1,2\n")
        code, out = run(jail, ["sh", "-c", f"echo x > {where}/new.csv"])
        assert code != 0 and "Read-only file system" in out, out
        code, out = run(jail, ["sh", "-c", f"echo x >> {where}/train.csv"])
        assert code != 0, out
    assert sorted(p.name for p in dirs.data.iterdir()) == ["train.csv"]


@pytest.mark.parametrize(
    "folder", ["/", "/usr", "/etc", "/run", "/opt/kubegym/kubegym", sys.prefix, sys.base_prefix]
)
def test_nothing_outside_the_workspace_is_writable(jail_factory: MakeJail, folder: str) -> None:
    name = f"kubegym-write-probe-{uuid.uuid4().hex}"
    code, out = run(jail_factory(), ["sh", "-c", f"echo x > {folder}/{name}"])
    # Where that file would land on the host if the bind were writable (python's prefixes
    # are bound at their own paths, the kubegym package under /opt/kubegym).
    package = Path(kubegym.__file__).resolve().parent
    host = package if folder == "/opt/kubegym/kubegym" else Path(folder)
    leaked = (host / name).exists()
    (host / name).unlink(missing_ok=True)
    assert code != 0, out
    assert not leaked
    code, out = run(jail_factory(), ["sh", "-c", "echo x >> /etc/passwd"])
    assert code != 0, out


def test_the_task_folder_and_private_host_folders_are_absent(
    jail_factory: MakeJail, dirs: Dirs, tmp_path: Path
) -> None:
    repo = Path(kubegym.__file__).resolve().parent.parent
    secrets = [
        dirs.task,
        tmp_path,
        repo / "pyproject.toml",
        Path(__file__),
        Path.home() / ".bashrc",
    ]
    code, out = python(
        jail_factory(),
        "import json, os\n"
        f"paths = {[str(p) for p in secrets]!r}\n"
        "found = []\n"
        "for top, subdirs, files in os.walk('/'):\n"
        "    if top in ('/proc', '/sys', '/dev', '/usr'):\n"
        "        subdirs.clear()\n"
        f"    found += [os.path.join(top, f) for f in files if f in {[EVALUATOR, HIDDEN_DATA]!r}]\n"
        "print(json.dumps({'visible': [p for p in paths if os.path.exists(p)], 'found': found,"
        " 'tmp': os.listdir('/tmp'), 'root': sorted(os.listdir('/'))}))",
    )
    assert code == 0, out
    seen = json.loads(out)
    assert seen["visible"] == []
    assert seen["found"] == []  # the evaluation script and hidden data, under any path
    # Only the mount points of the bound interpreter may show in /tmp (a checkout under /tmp).
    bound = {Path(p).parts[2] for p in (sys.prefix, sys.base_prefix) if p.startswith("/tmp/")}
    assert set(seen["tmp"]) <= bound
    assert "home" not in seen["root"]


def test_a_bind_that_would_show_the_task_folder_is_refused(
    jail_factory: MakeJail, dirs: Dirs, tmp_path: Path
) -> None:
    with pytest.raises(kubegym.ConfigError, match=r"would make .* visible") as caught:
        jail_factory(read_only=[(tmp_path, "/everything")], forbidden=[dirs.task / "hidden"])
    assert caught.value.field == "read_only"


def test_the_host_environment_never_gets_in(
    jail_factory: MakeJail, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "must-not-leak")
    jail = jail_factory(env={"TASK_SEED": "7"})
    code, out = run(jail, ["env"])
    assert code == 0, out
    names = {line.split("=", 1)[0] for line in out.splitlines()}
    assert "must-not-leak" not in out and "sk-" not in out
    assert "OPENAI_API_KEY" not in names
    assert "TASK_SEED=7" in out.splitlines()
    assert names - {"PWD", "SHLVL", "_"} == set(jail.env)


def test_bwrap_clears_the_environment_even_when_handed_the_hosts(
    jail_factory: MakeJail, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A careless caller that starts the wrapped command with its own environment.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    jail = jail_factory()
    kwargs = {**jail.popen_kwargs(), "env": dict(os.environ)}
    result = subprocess.run(jail.wrap(["env"]), capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, result.stderr
    assert "must-not-leak" not in result.stdout
    assert "PATH=" in result.stdout


def test_the_jail_has_its_own_process_tree(jail_factory: MakeJail) -> None:
    code, out = python(
        jail_factory(),
        "import json, os\n"
        "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "init = open('/proc/1/cmdline', 'rb').read().split(b'\\0')[0].decode()\n"
        "print(json.dumps({'me': os.getpid(), 'pids': pids, 'init': init}))",
    )
    assert code == 0, out
    seen = json.loads(out)
    assert seen["me"] <= 3
    assert len(seen["pids"]) <= 3, seen  # bwrap's init, python (and nothing of the host)
    assert seen["init"].endswith("bwrap") or seen["init"] == sys.executable


def test_the_sandbox_server_can_import_kubegym_from_its_bind(jail_factory: MakeJail) -> None:
    code, out = python(
        jail_factory(),
        "import kubegym.sandbox.protocol as p, kubegym.errors, os\n"
        "print(p.__file__, sorted(os.listdir('/opt/kubegym')),"
        " os.access('/opt/kubegym/kubegym/sandbox', os.W_OK))",
    )
    assert code == 0, out
    # The package alone, read-only: not the repository around it (tasks, their hidden
    # data, tests), which a source checkout keeps next to it.
    assert out.split() == ["/opt/kubegym/kubegym/sandbox/protocol.py", "['kubegym']", "False"]
