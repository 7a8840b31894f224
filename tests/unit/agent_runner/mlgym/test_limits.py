"""The mlgym preset's turn-level endings, against a real OpenAI-protocol server: the cost limit
drops the reply that reached it, a model API still failing after the client's retries ends the
trial (MLGym's exit_api), a full context ends it; kubegym's own preset keeps its infra retry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubegym import errors
from kubegym.agent_runner import agents, decisions
from kubegym.agent_runner.mlgym import agent as mlgym_agent
from tests.support.openai_server import FakeOpenAI
from tests.unit.agent_runner.mlgym.conftest import golden, reply, reset_info, step_info

Build = Callable[..., mlgym_agent.MLGymAgent]
INPUTS = golden("first-request-house-price.json")["inputs"]
STATE = {"open_file": "n/a", "working_dir": "/workspace"}


def started(agent: Any) -> Any:
    agent.see(reset_info(INPUTS))
    agent.start("", "")
    return agent


def test_the_call_that_reaches_the_cost_limit_ends_the_turn_unread(
    build: Build, server: FakeOpenAI
) -> None:
    # 1 USD per million prompt tokens; the second call reports a million prompt tokens.
    server.push(
        FakeOpenAI.reply(reply("Run it.", "python baseline.py"), prompt_tokens=100),
        FakeOpenAI.reply(reply("Delete it all.", "rm -rf /workspace"), prompt_tokens=1_000_000),
    )
    agent = started(build(costLimitUsd=0.5))
    assert agent.act(None).action == "python baseline.py"
    agent.see(step_info("done", 1, STATE))
    with pytest.raises(decisions.CostExhausted) as caught:
        agent.act("done")
    assert caught.value.reason == "cost_limit"
    assert caught.value.decision.action == ""  # the reply is never acted on
    assert caught.value.decision.cost_usd == pytest.approx(1.0 + 7e-6, rel=1e-3)
    assert all("rm -rf" not in m.content for m in agent.history)


def test_a_cost_limit_of_zero_is_no_limit_as_in_mlgym(build: Build, server: FakeOpenAI) -> None:
    server.push(FakeOpenAI.reply(reply("Run it.", "ls"), prompt_tokens=10_000_000))
    agent = started(build(costLimitUsd=0))
    assert agent.act(None).action == "ls"


def test_a_model_api_failing_after_the_retries_ends_the_trial(
    build: Build, server: FakeOpenAI
) -> None:
    server.push(*[FakeOpenAI.error(500, "the model is down", retry_after=0)] * 6)
    agent = started(build())
    with pytest.raises(decisions.ModelFailed) as caught:
        agent.act(None)
    assert caught.value.reason == "model_error"
    assert "the model is down" in str(caught.value)
    assert len(server.completions) == 6  # the client's own six attempts came first


def test_kubegyms_preset_leaves_a_failing_api_to_the_infra_retry(
    make_spec: Callable[..., Any], server: FakeOpenAI, tmp_path: Path
) -> None:
    server.push(*[FakeOpenAI.error(503, retry_after=0)] * 6)
    agent = agents.make_agent(
        make_spec(preset="kubegym"), task="t", run_dir=tmp_path, baseline_command=None, api_key="k"
    )
    agent.start("task", "system")
    with pytest.raises(errors.InfraError) as caught:
        agent.act(None)
    assert caught.value.reason == "ModelUnavailable"


def test_a_full_context_ends_the_trial(build: Build, server: FakeOpenAI) -> None:
    server.push(
        FakeOpenAI.error(
            400,
            "This model's maximum context length is 8192 tokens. However, you requested 9000.",
            code="context_length_exceeded",
        )
    )
    agent = started(build())
    with pytest.raises(decisions.ContextExhausted) as caught:
        agent.act(None)
    assert caught.value.reason == "context_window"


def test_without_the_environments_view_the_agent_says_what_is_missing(build: Build) -> None:
    agent = build()
    with pytest.raises(ValueError, match=r"info\['view'\]"):
        agent.see({"system_prompt": "x"})
    with pytest.raises(ValueError, match="description"):
        agent.start("", "")
