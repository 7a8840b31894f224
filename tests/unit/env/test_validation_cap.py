"""ResearchEnv's local judge caps validate calls: the task's cap and the run's, the smaller wins."""

from __future__ import annotations

import pytest

from kubegym.agent_runner.env import ResearchEnv
from kubegym.tasks.catalog import TaskBundle


def with_task_cap(bundle: TaskBundle, cap: int | None) -> TaskBundle:
    limits = bundle.task.spec.limits.model_copy(update={"max_validations": cap})
    spec = bundle.task.spec.model_copy(update={"limits": limits})
    return TaskBundle(bundle.task.model_copy(update={"spec": spec}), bundle.root)


@pytest.mark.parametrize(
    ("task_cap", "run_cap", "allowed"),
    [(None, 1, 1), (1, 3, 1), (3, 1, 1), (2, None, 2)],
    ids=["run-only", "task-smaller", "run-smaller", "task-only"],
)
def test_the_smaller_cap_wins_and_the_judge_counts(
    polyfit: TaskBundle, task_cap: int | None, run_cap: int | None, allowed: int
) -> None:
    env = ResearchEnv([with_task_cap(polyfit, task_cap)], max_validations=run_cap)
    try:
        env.reset(options={"task": "polyfit"})
        env.step("python baseline.py")
        answers = [env.step("validate")[0] for _ in range(allowed + 1)]
        assert all("Evaluation score" in a for a in answers[:allowed])
        assert "Validation refused" in answers[-1]
        assert env.validation_counts == (allowed, 1)
        # A refused validate scores nothing, hidden or not.
        assert env.scores[-1].test_metrics is None and env.scores[-1].metrics is None
        # submit is never capped: the trial still ends with its score.
        observation, _, terminated, _, _ = env.step("submit")
        assert terminated and "Final score" in observation
    finally:
        env.close()


def test_a_new_trial_starts_a_new_count(polyfit: TaskBundle) -> None:
    env = ResearchEnv([polyfit], max_validations=1)
    try:
        env.reset(options={"task": "polyfit"})
        env.step("validate")
        env.step("validate")
        assert env.validation_counts == (1, 1)
        env.reset(options={"task": "polyfit"})
        assert env.validation_counts == (0, 0)
    finally:
        env.close()
