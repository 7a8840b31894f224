"""Fixtures for the task suite's tests: prepared tasks, baselines through the real sandbox, scoring.

Every task under task_images/ is tested the same way: its YAML validates, its
data preparation is reproducible, its baseline runs through the bubblewrap
sandbox and the evaluator on a CI-sized budget, and a broken submission is an
eval_error with a clear reason.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kubegym.api import results as results_api
from kubegym.evaluator import scorer
from kubegym.local import baselines
from kubegym.tasks import catalog, checksums, preparation

TASK_IMAGES = Path(__file__).resolve().parents[2] / "task_images"


def bundle(name: str) -> catalog.TaskBundle:
    """The task called ``name`` in task_images/ (read from its own folder and its families)."""
    from kubegym.api import documents

    (task,) = documents.load_run_file(TASK_IMAGES / name / "task.yaml").tasks
    return catalog.TaskBundle.from_folder(task, TASK_IMAGES / name, TASK_IMAGES)


def prepared(name: str) -> catalog.TaskBundle:
    """The task, with its data prepared (once per machine; cached)."""
    task = bundle(name)
    preparation.prepare(task)
    return task


def assert_reproducible(name: str) -> Path:
    """Prepare the task from scratch twice: the same bytes both times, equal to the pins.

    Returns:
        The prepared folder.
    """

    task = bundle(name)
    spec = task.task.spec
    sets = [
        d for d in (*spec.datasets, *spec.validation_data, *spec.evaluation.test_data) if d.path
    ]
    hashes = []
    for _ in range(2):
        root = preparation.prepare(task, force=True)
        hashes.append({d.path: checksums.sha256_of(root / d.path) for d in sets})
    assert hashes[0] == hashes[1] == {d.path: d.sha256 for d in sets}
    return root


def baseline(name: str, budget: float) -> results_api.TrialResult:
    """The baseline solution's results, run through the real sandbox and evaluator."""
    return baselines.run_baseline(prepared(name), budget=budget)


def score_file(name: str, submission: Path, split: str = "test") -> scorer.Scoring:
    """Score a submission file (put at the task's submission path) on one split."""
    from kubegym.tasks import datasets

    task = prepared(name)
    spec = task.task.spec
    sets = spec.evaluation.test_data if split == "test" else spec.validation_data
    workspace = submission.parent / "scored-workspace"
    target = workspace / spec.evaluation.submission.path
    target.parent.mkdir(parents=True, exist_ok=True)
    if submission.is_dir():
        shutil.copytree(submission, target, dirs_exist_ok=True)
    else:
        shutil.copyfile(submission, target)
    from kubegym.tasks import venvs

    return scorer.score(
        spec.evaluation,
        task_dir=task.root,
        workspace=workspace,
        data={d.name: datasets.materialize(task, d) for d in sets},
        split=split,
        python=str(venvs.python(venvs.ensure(spec.environment.requirements))),
        env={"KUBEGYM_BUDGET": "1"},
    )


@pytest.fixture
def task_images() -> Path:
    return TASK_IMAGES
