"""Fixtures for the local jail's tests: real bubblewrap, real folders, no mocks."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubegym.errors import ConfigError
from kubegym.sandbox import isolation

EVALUATOR = "kubegym_evaluate_7f3a.py"
"""The task's evaluation script's name: distinctive, so a search inside the jail finds only it."""
HIDDEN_DATA = "kubegym_hidden_test_7f3a.csv"


def cgroups_expected() -> bool:
    """Whether this machine should give a jail cgroups: root with a writable cgroup mount."""
    if os.geteuid() != 0:
        return False
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[:1] in (["cgroup"], ["cgroup2"]) and left.split()[5].startswith("rw"):
            return True
    return False


@dataclass
class Dirs:
    """A trial's host folders: the workspace and runtime dir the jail gets, a dataset bound
    read-only, and the task folder (evaluation script, hidden test data) that is never bound."""

    workspace: Path
    runtime: Path
    data: Path
    task: Path


@pytest.fixture(scope="session")
def bwrap() -> str:
    """The bubblewrap binary; skips (with the reason) only where it genuinely cannot run."""
    try:
        found = isolation.check_available("bwrap")
    except ConfigError as error:
        pytest.skip(f"bubblewrap unusable here: {error}")
    assert found is not None
    return found


@pytest.fixture
def dirs(tmp_path: Path) -> Dirs:
    made = Dirs(
        workspace=tmp_path / "workspace",
        runtime=tmp_path / "runtime",
        data=tmp_path / "data",
        task=tmp_path / "task",
    )
    for path in (made.workspace, made.runtime, made.data, made.task / "hidden"):
        path.mkdir(parents=True)
    (made.data / "train.csv").write_text("x,y\n1,2\n")
    (made.task / EVALUATOR).write_text("print('secret scorer')\n")
    (made.task / "hidden" / HIDDEN_DATA).write_text("x,y\n3,4\n")
    return made


@pytest.fixture
def jail_factory(bwrap: str, dirs: Dirs) -> Iterator[Callable[..., isolation.Jail]]:
    """Prepare jails over ``dirs``; every one is cleaned up after the test."""
    made: list[isolation.Jail] = []

    def make(**overrides: object) -> isolation.Jail:
        backend = overrides.pop("backend", "bwrap")
        limits = overrides.pop("limits", "auto")
        fields: dict[str, object] = {
            "workspace": dirs.workspace,
            "runtime_dir": dirs.runtime,
            "read_only": [(dirs.data, "/data")],
        }
        fields.update(overrides)
        spec = isolation.IsolationSpec(**fields)  # type: ignore[arg-type]
        jail = isolation.prepare(spec, backend, limits=limits)  # type: ignore[arg-type]
        made.append(jail)
        return jail

    yield make
    for jail in made:
        jail.cleanup()
