"""A validate that scored is answered in MLGym's words, from the evaluator's score: its own
metrics only, never the hidden test metrics the score also carries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from kubegym.agent_runner.mlgym import agent as mlgym_agent
from kubegym.agent_runner.mlgym import templates
from kubegym.api import trials
from tests.support.openai_server import FakeOpenAI
from tests.unit.agent_runner.mlgym.conftest import golden, reset_info, step_info

Build = Callable[..., mlgym_agent.MLGymAgent]
CASES = golden("mlgym-validate-observations.json")["cases"]
STATE = {"open_file": "n/a", "working_dir": "/workspace"}


@pytest.mark.parametrize("case", CASES, ids=["house-price", "battle-of-sexes"])
def test_the_answer_is_mlgyms(case: dict[str, Any]) -> None:
    assert (
        templates.validation_message(
            submission=case["submission"],
            baseline=dict(case["baseline"]),
            metrics=dict(case["metrics"]),
        )
        == case["observation"]
    )


def validated(build: Build, server: FakeOpenAI, score: trials.Score, output: str) -> str:
    inputs = golden("first-request-house-price.json")["inputs"]
    reset = reset_info(inputs)
    reset["view"].update(
        submission="submission.csv", baseline_scores={"r2": 0.87998914747, "rmse": 30340.11}
    )
    server.push("```\nvalidate\n```", "```\nls\n```")
    agent = build()
    agent.see(reset)
    agent.start("", "")
    agent.act(None)
    agent.see({**step_info(output, 1, STATE), "tool": "validate", "score": score})
    agent.act("unused")
    content: str = server.completions[1].messages[-1]["content"]
    return content


def test_a_scored_validate_shows_its_own_metrics_never_the_hidden_ones(
    build: Build, server: FakeOpenAI
) -> None:
    score = trials.Score(
        step=1,
        action="validate",
        metrics={"r2": 0.9012, "rmse": 26000.5},
        test_metrics={"r2": 0.7777777, "rmse": 99999.25},
        time=dt.datetime.now(dt.UTC),
    )
    shown = validated(build, server, score, "kubegym's own wording\n")
    assert shown == (
        "Your code produced a valid submission artefact at /workspace/submission.csv.\n"
        "Baseline Score: {'r2': 0.87998914747, 'rmse': 30340.11}\n"
        "Evaluation Score: {'r2': 0.9012, 'rmse': 26000.5}\n"
        "(Current Step: 1, Remaining Steps: 49)\n(Open file: n/a)\n"
        "(Current directory: /workspace)\nbash-$"
    )
    assert "0.7777777" not in shown and "99999.25" not in shown


def test_a_validate_that_did_not_score_keeps_the_evaluators_words(
    build: Build, server: FakeOpenAI
) -> None:
    refused = "Validation refused: this trial allows 1 validate call(s) and all were used."
    score = trials.Score(step=1, action="validate", error=refused, time=dt.datetime.now(dt.UTC))
    assert validated(build, server, score, refused).startswith(refused + "\n(Current Step: 1,")


def test_a_task_without_baseline_says_so_as_mlgym() -> None:
    assert templates.validation_message(
        submission="/workspace/submission.csv", baseline={}, metrics={"acc": 0.5}
    ) == (
        "Your code produced a valid submission artefact at /workspace/submission.csv.\n"
        "Baseline Score: NA (no baseline was there)\n"
        "Evaluation Score: {'acc': 0.5}"
    )
