"""validate and submit: which data an artifact is scored on, and what the agent is told.

`validate` scores the artifact on the validation data (the test data with
``validation: test``, as MLGym did) and, unseen by the agent, on the hidden
test data as well: that hidden score is what "best attempt" counts. `submit`
scores on the test data and ends the trial. Used by the research environment
(`kubegym.env`) for every validate and submit action.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kubegym import datasets
from kubegym.api import tasks, trials
from kubegym.catalog import TaskBundle
from kubegym.errors import ConfigError
from kubegym.evaluator import scorer


@dataclass(frozen=True)
class Verdict:
    """The outcome of one validate or submit: the record, and what the agent sees."""

    score: trials.Score
    observation: str

    @property
    def ok(self) -> bool:
        return self.score.error is None


class Judge:
    """Scores one trial's artifacts for validate and submit.

    Args:
        bundle: the task.
        validation: ``heldout`` (validate on validation data) or ``test``.
        python: the interpreter that runs the evaluation script (the task's environment).
        env: more environment for the evaluation script (such as ``KUBEGYM_BUDGET``).
    """

    def __init__(
        self,
        bundle: TaskBundle,
        validation: Literal["heldout", "test"] = "heldout",
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
    ):
        spec = bundle.task.spec
        if validation == "heldout" and not spec.validation_data:
            raise ConfigError(
                f"task {bundle.name} has no validationData, so validate cannot hold out the test data",
                field="spec.validation",
                hint="add validationData to the task, or run with `validation: test` (MLGym's way)",
            )
        if not spec.evaluation.test_data:
            raise ConfigError(
                f"task {bundle.name} has no evaluation.testData", field="spec.evaluation.testData"
            )
        self.bundle = bundle
        self.validation = validation
        self.python = python
        self.env = dict(env or {})
        self._test = self._data(spec.evaluation.test_data)
        self._valid = self._test if validation == "test" else self._data(spec.validation_data)

    def validate(self, workspace: Path, step: int) -> Verdict:
        """Score the current artifact for the agent, and on the hidden test data for the record."""
        visible_split = "test" if self.validation == "test" else "validation"
        visible = self._score(workspace, self._valid, visible_split)
        hidden = (
            visible if self.validation == "test" else self._score(workspace, self._test, "test")
        )
        record = trials.Score(
            step=step,
            action="validate",
            metrics=visible.metrics,
            test_metrics=hidden.metrics,
            error=visible.error,
            time=dt.datetime.now(dt.UTC),
        )
        if visible.error is not None:
            return Verdict(record, f"Validation failed: {visible.error}")
        return Verdict(
            record,
            f"Your code produced a valid submission artifact at "
            f"{self.bundle.task.spec.evaluation.submission.path}.\n"
            f"Baseline score: {self._fmt(self.bundle.task.spec.baseline_scores)}\n"
            f"Evaluation score ({visible_split} data): {self._fmt(visible.metrics)}",
        )

    def submit(self, workspace: Path, step: int) -> Verdict:
        """Score the artifact on the hidden test data: the trial's final score."""
        result = self._score(workspace, self._test, "test")
        record = trials.Score(
            step=step,
            action="submit",
            metrics=result.metrics,
            test_metrics=result.metrics,
            error=result.error,
            time=dt.datetime.now(dt.UTC),
        )
        if result.error is not None:
            return Verdict(record, f"Submission failed: {result.error}")
        return Verdict(record, f"Submitted. Final score: {self._fmt(result.metrics)}")

    def _score(self, workspace: Path, data: Mapping[str, Path], split: str) -> scorer.Scoring:
        return scorer.score(
            self.bundle.task.spec.evaluation,
            task_dir=self.bundle.root,
            workspace=workspace,
            data=data,
            split=split,
            python=self.python,
            env=self.env,
        )

    def _data(self, sets: list[tasks.Dataset]) -> dict[str, Path]:
        return {d.name: datasets.materialize(self.bundle, d) for d in sets}

    @staticmethod
    def _fmt(metrics: Mapping[str, float] | None) -> str:
        return json.dumps({k: round(v, 6) for k, v in (metrics or {}).items()})
