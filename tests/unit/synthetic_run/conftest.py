"""The generated run (`tests.support.synthetic_run`), written once for the folder's tests."""

from __future__ import annotations

import pytest

from tests.support import synthetic_run


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> synthetic_run.SyntheticRun:
    """A hostile run of 60 trials over 3 tasks × 4 agents, one of them 1,000 steps long."""
    folder = tmp_path_factory.mktemp("generated") / "run"
    return synthetic_run.write_run(folder, trials=60, tasks=3, agents=4, seed=7)
