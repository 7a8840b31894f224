"""ResearchEnv speaks Gymnasium: reset gives the prompt, step gives observations, rewards and the end."""

from __future__ import annotations

import gymnasium
import pytest

from kubegym.agent_runner.env import ResearchEnv
from kubegym.errors import ConfigError
from kubegym.tasks.catalog import TaskBundle


def test_reset_gives_the_task_and_the_tools(polyfit: TaskBundle) -> None:
    env = ResearchEnv([polyfit], sandbox="bwrap")
    try:
        observation, info = env.reset(seed=3, options={"task": "polyfit"})
        assert isinstance(env, gymnasium.Env)
        assert "Polyfit: predict y from x" in observation
        assert "validate" in info["system_prompt"] and "submit" in info["system_prompt"]
        assert info["seed"] == 3 and info["task"] == "polyfit"
    finally:
        env.close()


def test_rewards_follow_the_normalised_validation_score(env: ResearchEnv) -> None:
    _, reward, terminated, _, info = env.step("validate")
    assert reward == 0.0 and not terminated
    assert info["score"].error is not None  # nothing written yet: an eval error, not a crash
    env.step("python baseline.py")
    _, reward, _, _, info = env.step("validate")
    r2 = info["score"].metrics["r2"]
    assert reward == pytest.approx((r2 - 0.4416) / 0.4416)
    _, again, _, _, _ = env.step("validate")
    assert again == pytest.approx(0.0)  # no change, no reward


def test_submit_terminates_and_records_scores_in_order(env: ResearchEnv) -> None:
    env.step("python baseline.py")
    env.step("validate")
    observation, _, terminated, truncated, _info = env.step("submit")
    assert terminated and not truncated
    assert "Final score" in observation
    assert [s.action for s in env.scores] == ["validate", "submit"]
    assert env.scores[0].test_metrics == env.scores[1].metrics  # same artifact, same test score
    with pytest.raises(RuntimeError, match="reset"):
        env.step("ls")


def test_observations_carry_the_state_line(env: ResearchEnv) -> None:
    observation, _, _, _, info = env.step("mkdir -p work && cd work")
    assert info["exit_code"] == 0
    assert "/workspace/work" in observation
    observation, _, _, _, _ = env.step("open ../baseline.py")
    assert "baseline.py" in observation and "1:" in observation


def test_the_step_limit_truncates(polyfit: TaskBundle) -> None:
    limits = polyfit.task.spec.limits.model_copy(update={"max_steps": 2})
    spec = polyfit.task.spec.model_copy(update={"limits": limits})
    env = ResearchEnv([TaskBundle(polyfit.task.model_copy(update={"spec": spec}), polyfit.root)])
    try:
        env.reset(options={"task": "polyfit"})
        assert env.step("ls")[3] is False
        assert env.step("ls")[3] is True
    finally:
        env.close()


def test_unknown_task_is_a_config_error(polyfit: TaskBundle) -> None:
    env = ResearchEnv([polyfit])
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        env.reset(options={"task": "nope"})
