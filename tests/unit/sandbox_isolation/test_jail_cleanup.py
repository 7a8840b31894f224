"""Cleanup: no process of the jail survives it, and its cgroup folders are gone."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kubegym.errors import ConfigError
from kubegym.sandbox import isolation
from tests.unit.sandbox_isolation.conftest import cgroups_expected

MakeJail = Callable[..., isolation.Jail]
MARKER = "987654"  # `sleep 987654`: easy to find in the host's process table


def _marked_processes() -> list[int]:
    """The host pids of every `sleep MARKER` (not the bwrap or sh lines that mention it)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes() == f"sleep\0{MARKER}\0".encode():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.mark.parametrize("limits", ["auto", "rlimit"])
def test_cleanup_kills_every_process_and_removes_the_cgroup(
    jail_factory: MakeJail, limits: str
) -> None:
    jail = jail_factory(limits=limits, memory_bytes=512 << 20, pids=64)
    # A background child that double-forks away from the shell, and a foreground one.
    jail.popen(["sh", "-c", f"(setsid sleep {MARKER} &) ; sleep {MARKER}"])
    assert _wait_for(lambda: len(_marked_processes()) == 2), _marked_processes()
    dirs = list(jail.cgroup.dirs.values()) if jail.cgroup else []
    if limits == "auto" and dirs:
        assert jail.cgroup is not None and len(jail.cgroup.pids()) >= 3  # bwrap, init, sleeps
    jail.cleanup()
    assert _wait_for(lambda: not _marked_processes()), _marked_processes()
    assert [d for d in dirs if d.exists()] == []
    jail.cleanup()  # idempotent


def test_cleanup_kills_what_the_caller_started_itself(jail_factory: MakeJail) -> None:
    # Started with Popen directly (not Jail.popen): only the cgroup knows these processes.
    try:
        jail = jail_factory(limits="cgroup", pids=64)
    except ConfigError as error:
        if cgroups_expected():
            pytest.fail(f"root with a writable cgroup mount, yet no cgroup: {error}")
        pytest.skip(f"no writable cgroup here: {error}")
    process = subprocess.Popen(jail.wrap(["sleep", MARKER]), **jail.popen_kwargs())
    try:
        assert _wait_for(lambda: len(_marked_processes()) == 1)
        dirs = list(jail.cgroup.dirs.values()) if jail.cgroup else []
        jail.cleanup()
        assert process.wait(timeout=5) == -signal.SIGKILL
        assert _wait_for(lambda: not _marked_processes()), _marked_processes()
        assert dirs and [d for d in dirs if d.exists()] == []
    finally:
        process.kill()
        process.wait()


def test_the_context_manager_cleans_up(bwrap: str, tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    spec = isolation.IsolationSpec(workspace=tmp_path / "ws", runtime_dir=tmp_path / "run", pids=32)
    with isolation.prepare(spec) as jail:
        jail.popen(["sleep", MARKER])
        assert _wait_for(lambda: len(_marked_processes()) == 1)
        dirs = list(jail.cgroup.dirs.values()) if jail.cgroup else []
    assert _wait_for(lambda: not _marked_processes())
    assert [d for d in dirs if d.exists()] == []
    assert os.listdir(tmp_path / "run") == []  # nothing generated is left in the runtime dir
