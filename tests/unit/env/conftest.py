"""A research environment over the polyfit example task, isolated with bubblewrap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegym.agent_runner.env import ResearchEnv
from kubegym.api import documents
from kubegym.tasks.catalog import TaskBundle


@pytest.fixture
def polyfit(repo: Path) -> TaskBundle:
    root = repo / "examples" / "tasks" / "polyfit"
    (task,) = documents.load_run_file(root / "task.yaml").tasks
    return TaskBundle(task, root)


@pytest.fixture
def env(polyfit: TaskBundle, monkeypatch: pytest.MonkeyPatch) -> Iterator[ResearchEnv]:
    # A model key in the runner's environment must never reach the sandbox.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-inside")
    research = ResearchEnv([polyfit], sandbox="bwrap")
    research.reset(seed=0, options={"task": "polyfit"})
    yield research
    research.close()
