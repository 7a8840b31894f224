"""validate and submit: which data an artifact is scored on, and what the agent is told.

`validate` scores the artifact on the validation data (the test data with
``validation: test``, as MLGym did) and, unseen by the agent, on the hidden
test data as well: that hidden score is what "best attempt" counts. `submit`
scores on the test data and ends the trial. Used by the research environment
(`kubegym.agent_runner.env`) for every validate and submit action, and by the evaluator
container's server (`kubegym.evaluator.server`) on a cluster.

`Evaluator` is what the research environment holds: a `Judge` bound to a local
workspace (`Judge.bind`), or the client of an evaluator server
(`kubegym.evaluator.client.EvaluatorClient`).

A `Ledger` keeps one trial's authoritative record (`kubegym.api.summary.EvaluatorRecord`):
every scoring with its hidden test metrics, and the validate calls counted against the
trial's cap (`maxValidations`: the task's and the run's, the smaller wins). Past the
cap a validate is refused, not scored: the agent gets a refusal observation, the
same locally (`BoundJudge`) and through the server (HTTP 429, turned back into the
same verdict by the client). An agent's observation never holds test metrics: a
validate shows the validation metrics only, and the hidden ones reach the trial's
record alone (the local results, or the evaluator's termination message).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from kubegym.api import summary, tasks, trials
from kubegym.errors import ConfigError
from kubegym.evaluator import jails, scorer
from kubegym.tasks import datasets
from kubegym.tasks.catalog import TaskBundle


@dataclass(frozen=True)
class Verdict:
    """The outcome of one validate or submit: the record, and what the agent sees."""

    score: trials.Score
    observation: str

    @property
    def ok(self) -> bool:
        return self.score.error is None


def validation_cap(*caps: int | None) -> int | None:
    """The trial's cap on validate calls: the smallest of those set (None: no cap)."""
    given = [c for c in caps if c is not None]
    return min(given) if given else None


def refusal(step: int, cap: int) -> Verdict:
    """The verdict of a validate past the trial's cap: not scored, and not an infrastructure error."""
    message = (
        f"Validation refused: this trial allows {cap} validate call(s) and all were used. "
        "Nothing was scored; keep working and submit when ready."
    )
    score = trials.Score(step=step, action="validate", error=message, time=dt.datetime.now(dt.UTC))
    return Verdict(score, message)


class Ledger:
    """One trial's authoritative record of what was scored; thread-safe.

    Args:
        max_validations: the cap on validate calls (None: no cap).
    """

    def __init__(self, max_validations: int | None = None) -> None:
        self.max_validations = max_validations
        self._lock = threading.Lock()
        self._scores: list[trials.Score] = []
        self._validations = 0
        self._refused = 0

    def claim_validation(self) -> bool:
        """Count one validate call; False (and counted as refused) once the cap is reached."""
        with self._lock:
            if self.max_validations is not None and self._validations >= self.max_validations:
                self._refused += 1
                return False
            self._validations += 1
            return True

    def add(self, score: trials.Score) -> None:
        """Record one scoring (a validate or a submit)."""
        with self._lock:
            self._scores.append(score)

    @property
    def validations(self) -> int:
        return self._validations

    @property
    def refused(self) -> int:
        return self._refused

    def record(self, end: summary.RecordEnd = "running") -> summary.EvaluatorRecord:
        """The record as it stands, ended for `end`."""
        with self._lock:
            scores = list(self._scores)
            submits = [s for s in scores if s.action == "submit"]
            final = submits[-1].metrics if submits and submits[-1].error is None else None
            return summary.EvaluatorRecord(
                end=end,
                scores=scores,
                final=final,
                validations=self._validations,
                refused=self._refused,
                max_validations=self.max_validations,
            )


def public_score(score: trials.Score) -> trials.Score:
    """`score` as an agent may see it: without the hidden test metrics (a submit's own
    metrics are the test metrics: the trial has ended when it sees them)."""
    return score.model_copy(update={"test_metrics": None})


class Evaluator(Protocol):
    """validate and submit for one trial, wherever its workspace and hidden data are."""

    def validate(self, step: int) -> Verdict:
        """Score the current artifact on the validation data (and, for the record, the test data)."""
        ...

    def submit(self, step: int) -> Verdict:
        """Score the artifact on the hidden test data: the trial's final score."""
        ...


class Judge:
    """Scores one trial's artifacts for validate and submit.

    Args:
        bundle: the task.
        validation: ``heldout`` (validate on validation data) or ``test``.
        python: the interpreter that runs the evaluation script (the task's environment).
        env: more environment for the evaluation script (such as ``KUBEGYM_BUDGET``).
        data_dir: where the validation and test data already lie, at their relative
            paths (the evaluator container's eval folder, filled from the task's data
            image); they are only checked there, never fetched or prepared. None: they
            are materialised locally (`kubegym.tasks.datasets.materialize`).
        jail: where agent code the evaluation runs is jailed (`kubegym.evaluator.jails`):
            a local mode, or the sandbox pod's jail container (`jails.Remote`).

    Raises:
        ConfigError: the task cannot be judged this way, or its data is missing or corrupt.
    """

    def __init__(
        self,
        bundle: TaskBundle,
        validation: Literal["heldout", "test"] = "heldout",
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        data_dir: Path | None = None,
        jail: jails.JailMode = "auto",
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
        self.data_dir = data_dir
        self.jail = jail
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
            jail=self.jail,
        )

    @property
    def max_validations(self) -> int | None:
        """The task's own cap on validate calls (`spec.limits.maxValidations`)."""
        return self.bundle.task.spec.limits.max_validations

    def bind(self, workspace: Path, max_validations: int | None = None) -> BoundJudge:
        """This judge as the `Evaluator` of the trial whose workspace is ``workspace``.

        Args:
            workspace: the trial's workspace.
            max_validations: the run's cap on validate calls; the task's own cap
                applies too (the smaller wins).
        """
        return BoundJudge(
            self, workspace, Ledger(validation_cap(self.max_validations, max_validations))
        )

    def _data(self, sets: list[tasks.Dataset]) -> dict[str, Path]:
        if self.data_dir is not None:
            return {d.name: datasets.in_folder(self.bundle, d, self.data_dir) for d in sets}
        return {d.name: datasets.materialize(self.bundle, d) for d in sets}

    @staticmethod
    def _fmt(metrics: Mapping[str, float] | None) -> str:
        return json.dumps({k: round(v, 6) for k, v in (metrics or {}).items()})


@dataclass(frozen=True)
class BoundJudge:
    """A `Judge`, the workspace it scores and the trial's ledger: the local `Evaluator`."""

    judge: Judge
    workspace: Path
    ledger: Ledger

    def validate(self, step: int) -> Verdict:
        """Score the artifact, or refuse once the trial's validate calls are used up."""
        if not self.ledger.claim_validation():
            assert self.ledger.max_validations is not None
            return refusal(step, self.ledger.max_validations)
        verdict = self.judge.validate(self.workspace, step)
        self.ledger.add(verdict.score)
        return verdict

    def submit(self, step: int) -> Verdict:
        verdict = self.judge.submit(self.workspace, step)
        self.ledger.add(verdict.score)
        return verdict
