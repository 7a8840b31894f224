"""kubegym's own KWOK stages: the pods of a `kwok-scored…` Task live a whole trial on fake nodes.

`trial.yaml` holds the stages; `kubegym.devcluster.build` appends them to KWOK's
default stages in the file `kwok --config` reads, versioned by `digest`. A pod
whose ``kubegym.io/task`` label starts with `TASK_PREFIX` goes Running; a second
or so later its evaluator container (sandbox pod) ends with the evaluator's
record and its agent container (agent pod) ends with the agent's summary, so the
operator reads a finished trial with a known score. Every other pod behaves as
KWOK's defaults say.

This module is the stages' twin in Python: `score`, `evaluator_record` and
`trial_summary` say what the stages write for a pod, so a benchmark
(bench/operator_scale.py, bench/operator_chaos.py) or a test can check a run's
scores and leaderboard exactly.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path
from typing import Any, Final

from kubegym.api import summary, trials
from kubegym.devcluster import nodes

#: A Task whose name starts with this is played through its whole life by the stages.
TASK_PREFIX: Final = "kwok-scored"
#: The metric the stages' evaluator reports; such a Task's primary metric must be this one.
METRIC: Final = "score"
#: The baseline `task` gives: positive, since the profiles divide by scores; the stages' scores
#: under it (a tenth of a per cent of them) count as infeasible.
BASELINE: Final = 1.0
#: The stages, KWOK Stage documents separated by ``---``.
STAGES_FILE: Final = Path(__file__).with_name("trial.yaml")


def documents() -> str:
    """The stages' YAML, as `kubegym.devcluster.build` appends it to KWOK's defaults."""
    return STAGES_FILE.read_text().strip()


def digest() -> str:
    """A short hash of the stages, part of the binary folder's version stamp: an edit to
    `trial.yaml` rewrites KWOK's stage file on the next `ensure_binaries`."""
    return hashlib.sha256(documents().encode()).hexdigest()[:12]


def is_scored(task: str) -> bool:
    """Whether the stages play the pods of ``task`` to the end."""
    return task.startswith(TASK_PREFIX)


def score(task: str, agent: str, seed: int) -> float:
    """The score the stages' evaluator reports for a trial: (adler32 of
    ``task/agent/seed`` mod 1000) / 10, one decimal, as the template computes it."""
    n = zlib.adler32(f"{task}/{agent}/{seed}".encode()) % 1000
    return n / 10


def evaluator_record(task: str, agent: str, seed: int) -> summary.EvaluatorRecord:
    """The record the stages write as the evaluator container's termination message."""
    value = score(task, agent, seed)
    submit = trials.Score(
        step=1, action="submit", metrics={METRIC: value}, test_metrics={METRIC: value}
    )
    return summary.EvaluatorRecord(end="submitted", scores=[submit], final={METRIC: value})


def trial_summary(task: str, agent: str, seed: int) -> summary.TrialSummary:
    """The summary the stages write as the agent container's termination message."""
    return summary.TrialSummary(exit="submitted", final={METRIC: score(task, agent, seed)}, steps=1)


def task(name: str, *, gpu: bool = False) -> dict[str, Any]:
    """A Task manifest the stages play to the end (``name`` must start with `TASK_PREFIX`);
    with ``gpu``, its sandbox pods ask for one GPU of the fake GPU nodes.

    Raises:
        ValueError: ``name`` is not one the stages select.
    """
    if not is_scored(name):
        raise ValueError(f"task name {name!r} does not start with {TASK_PREFIX!r}")
    resources: dict[str, Any] = {"cpu": "100m", "memory": "128Mi"}
    if gpu:
        resources["gpu"] = {"count": 1, "product": nodes.GPU_PRODUCT}
    return {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "Task",
        "metadata": {"name": name},
        "spec": {
            "description": "A task whose pods kubegym's KWOK stages run to the end.",
            "image": "registry.invalid/task-kwok-scored:1",
            "evaluation": {
                "script": "evaluate.py",
                "metrics": [{"name": METRIC, "direction": "max"}],
                "primaryMetric": METRIC,
                "submission": {"path": "submission.csv"},
            },
            "baselineScores": {METRIC: BASELINE},
            "resources": resources,
        },
    }
