"""An evaluator server over polyfit, as the evaluator container runs it: eval folder, trial.json,
a read-only view of a workspace where the baseline has run."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import trial_pod

StartEvaluator = Callable[..., tuple[trial_pod.Evaluator, Path]]


@pytest.fixture
def start_evaluator(repo: Path, tmp_path: Path) -> Iterator[StartEvaluator]:
    """Start an evaluator server (``validation`` heldout or test); returns it and its workspace."""
    started: list[trial_pod.Evaluator] = []

    def start(
        validation: str = "heldout", baseline: bool = True
    ) -> tuple[trial_pod.Evaluator, Path]:
        root = tmp_path / f"e{len(started)}"
        root.mkdir()
        workspace = trial_pod.make_workspace(repo, root / "workspace")
        if baseline:
            subprocess.run(
                [sys.executable, "baseline.py"], cwd=workspace, check=True, capture_output=True
            )
        eval_dir = trial_pod.make_eval_dir(repo, root / "eval")
        config = root / "trial.json"
        agent = {"name": "base", "builtin": "baseline"}
        trial_pod.write_trial_config(repo, config, agent, validation=validation)
        token = root / "token"
        token.write_text(trial_pod.EVALUATOR_TOKEN + "\n")
        evaluator = trial_pod.start_evaluator(config, eval_dir, workspace, token)
        started.append(evaluator)
        return evaluator, workspace

    yield start
    for evaluator in started:
        evaluator.stop()
