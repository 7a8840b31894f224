"""Choosing a backend: bubblewrap is checked once with a clear error, and the unsafe
`process` opt-out runs commands directly, loudly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kubegym.errors import ConfigError
from kubegym.sandbox import isolation
from tests.unit.sandbox_isolation.conftest import EVALUATOR, Dirs
from tests.unit.sandbox_isolation.jailrun import run


def test_a_missing_bwrap_says_how_to_install_it() -> None:
    with pytest.raises(ConfigError) as caught:
        isolation.check_available("bwrap", bwrap_path="/nonexistent/bwrap")
    text = str(caught.value)
    assert "bubblewrap is not installed" in text
    assert "apt-get install bubblewrap" in text and "dnf install bubblewrap" in text
    assert "--sandbox process" in text
    assert caught.value.field == "sandbox"


def test_a_bwrap_that_cannot_make_namespaces_says_how_to_enable_them(tmp_path: Path) -> None:
    # A stand-in binary that fails the way bwrap does where user namespaces are off.
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "bubblewrap 0.8.0"; exit 0; fi\n'
        "echo 'bwrap: setting up uid map: Permission denied' >&2; exit 1\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    for _ in range(2):  # the second answer comes from the cache, the same
        with pytest.raises(ConfigError, match="setting up uid map") as caught:
            isolation.check_available("bwrap", bwrap_path=str(fake))
        assert "kernel.apparmor_restrict_unprivileged_userns=0" in str(caught.value)
        assert "kernel.unprivileged_userns_clone=1" in str(caught.value)


def test_prepare_fails_early_without_bwrap(dirs: Dirs) -> None:
    spec = isolation.IsolationSpec(workspace=dirs.workspace, runtime_dir=dirs.runtime)
    with pytest.raises(ConfigError, match="not installed"):
        isolation.prepare(spec, bwrap_path="/nonexistent/bwrap")


def test_the_process_backend_runs_unisolated_and_warns(
    dirs: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    spec = isolation.IsolationSpec(
        workspace=dirs.workspace, runtime_dir=dirs.runtime, env={"TASK_SEED": "7"}
    )
    with pytest.warns(isolation.IsolationWarning, match="WITHOUT isolation"):
        jail = isolation.prepare(spec, "process", bwrap_path="/nonexistent/bwrap")
    with jail:
        assert jail.isolated is False and jail.describe()["isolated"] is False
        assert jail.workspace == str(dirs.workspace)
        code, out = run(jail, ["sh", "-c", "pwd; id -u; echo ${OPENAI_API_KEY:-absent} $TASK_SEED"])
        assert code == 0, out
        assert out.split() == [str(dirs.workspace), str(os.getuid()), "absent", "7"]
        # No isolation: the task folder is right there.
        code, out = run(jail, ["cat", str(dirs.task / EVALUATOR)])
        assert code == 0 and "secret scorer" in out


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"uid": 0}, "uid"),
        ({"gid": 0}, "gid"),
        ({"network": "host"}, "network"),
        ({"memory_bytes": 0}, "memory_bytes"),
        ({"env": {"BAD NAME": "x"}}, "env.BAD NAME"),
    ],
)
def test_a_bad_spec_names_the_field(dirs: Dirs, fields: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        isolation.IsolationSpec(workspace=dirs.workspace, runtime_dir=dirs.runtime, **fields)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("runtime", "read_only", "field"),
    [
        ("workspace/run", [], "runtime_dir"),
        ("runtime", [("data", "/proc/data")], "read_only"),
        ("runtime", [("data", "/workspace")], "read_only"),
        ("runtime", [("data", "relative")], "read_only"),
        ("runtime", [("missing", "/data")], "read_only"),
    ],
)
def test_bad_paths_are_refused_before_anything_starts(
    bwrap: str,
    tmp_path: Path,
    dirs: Dirs,
    runtime: str,
    read_only: list[tuple[str, str]],
    field: str,
) -> None:
    spec = isolation.IsolationSpec(
        workspace=dirs.workspace,
        runtime_dir=tmp_path / runtime,
        read_only=[(tmp_path / host, target) for host, target in read_only],
    )
    with pytest.raises(ConfigError) as caught:
        isolation.prepare(spec)
    assert caught.value.field == field
    assert not (dirs.workspace / "run").exists()
