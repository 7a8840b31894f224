"""The generated run (`tests.support.synthetic_run`) has the files and fields of a real run.

Compared with the quickstart run by `kubegym run`: the same files at the top, the same files
in a trial's folder, the same keys in results.json, status.json and leaderboard.json (two levels
down), the same header in results.csv, and steps with the same keys in the same order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import synthetic_run


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated") / "run"
    synthetic_run.write_run(folder, trials=24, tasks=2, agents=3, plot=True)
    return folder


def _shape(data: Any, depth: int = 2) -> Any:
    """The keys of a JSON document down to ``depth`` levels (lists by their first item)."""
    if depth == 0:
        return None
    if isinstance(data, dict):
        return {k: _shape(v, depth - 1) for k, v in data.items()}
    if isinstance(data, list) and data:
        return [_shape(data[0], depth - 1)]
    return None


def _finished_trial(run: Path) -> Path:
    return next(p.parent for p in sorted((run / "trials").glob("*/results.json")))


def test_the_same_files_as_a_real_run(quickstart_run: Path, generated: Path) -> None:
    # Other tests of the session run `kubegym report` on the quickstart, which adds report/.
    left_by_run = sorted(p.name for p in quickstart_run.iterdir() if p.name != "report")
    assert sorted(p.name for p in generated.iterdir()) == left_by_run
    assert sorted(p.name for p in _finished_trial(generated).iterdir()) == sorted(
        p.name for p in _finished_trial(quickstart_run).iterdir()
    )
    header = (quickstart_run / "results.csv").read_text(encoding="utf-8").splitlines()[0]
    assert (generated / "results.csv").read_text(encoding="utf-8").splitlines()[0] == header


@pytest.mark.parametrize("name", ["status.json", "leaderboard.json"])
def test_the_same_rollup_keys_as_a_real_run(
    quickstart_run: Path, generated: Path, name: str
) -> None:
    real = json.loads((quickstart_run / name).read_text(encoding="utf-8"))
    made = json.loads((generated / name).read_text(encoding="utf-8"))
    if name == "leaderboard.json":  # keyed by the run's own tasks and agents
        real, made = (
            {k: v for k, v in d.items() if k not in ("tasks", "agents")} for d in (real, made)
        )
    assert _shape(made) == _shape(real)


def test_the_same_result_and_step_keys_as_a_real_run(quickstart_run: Path, generated: Path) -> None:
    real, made = _finished_trial(quickstart_run), _finished_trial(generated)
    real_result = json.loads((real / "results.json").read_text(encoding="utf-8"))
    made_result = json.loads((made / "results.json").read_text(encoding="utf-8"))
    assert list(made_result) == list(real_result)
    real_step = json.loads((real / "trajectory.jsonl").read_text(encoding="utf-8").splitlines()[0])
    made_step = json.loads((made / "trajectory.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert list(made_step) == list(real_step)
