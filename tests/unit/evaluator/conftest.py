"""An evaluator server over polyfit, as the evaluator container runs it: eval folder, trial.json,
a read-only view of a workspace where the baseline has run."""

from __future__ import annotations

import json
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
        validation: str = "heldout",
        baseline: bool = True,
        *,
        max_validations: int | None = None,
        extra: tuple[str, ...] = (),
    ) -> tuple[trial_pod.Evaluator, Path]:
        """``max_validations`` goes into trial.json's limits; ``extra`` flags to the server
        (the record goes to ``<root>/record``, beside the returned workspace, always)."""
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
        written = trial_pod.write_trial_config(repo, config, agent, validation=validation)
        if max_validations is not None:
            written["limits"]["maxValidations"] = max_validations
            config.write_text(json.dumps(written))
        token = root / "token"
        token.write_text(trial_pod.EVALUATOR_TOKEN + "\n")
        flags = ("--record", str(root / "record"), *extra)
        evaluator = trial_pod.start_evaluator(config, eval_dir, workspace, token, extra=flags)
        started.append(evaluator)
        return evaluator, workspace

    yield start
    for evaluator in started:
        evaluator.stop()
