"""The first request of the mlgym preset, sent over HTTP, equals what MLGym sends, message by message.

Two sources of truth: MLGym's recorded trajectories (its own tasks' descriptions: the system
message and the task message exactly as MLGym-Bench sent them), and MLGym's
``configs/agents/default.yaml`` rendered by MLGym's rules for kubegym's house-price and
battle-of-sexes tasks (``fixtures/first-request-*.json``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubegym.agent_runner.mlgym import agent as mlgym_agent
from kubegym.api import documents
from tests.support.openai_server import FakeOpenAI
from tests.unit.agent_runner.mlgym.conftest import golden, reply, reset_info, step_info

Build = Callable[..., mlgym_agent.MLGymAgent]
STATE = {"open_file": "n/a", "working_dir": "/workspace"}


def first_request(build: Build, server: FakeOpenAI, inputs: dict[str, Any]) -> Any:
    server.reply(reply("Look around.", "ls -a"))
    agent = build()
    agent.see(reset_info(inputs))
    agent.start("kubegym's own task message, unused", "kubegym's own system prompt, unused")
    decision = agent.act(None)
    assert decision.action == "ls -a"
    (request,) = server.completions
    return request


@pytest.mark.parametrize(
    "name",
    ["mlgym-trajectory-battleOfSexes.json", "mlgym-trajectory-regressionKaggleHousePrice.json"],
)
def test_the_first_request_is_the_one_in_mlgyms_trajectory(
    build: Build, server: FakeOpenAI, name: str
) -> None:
    recorded = golden(name)
    history = recorded.get("messages") or recorded["history"][:2]
    request = first_request(build, server, recorded["inputs"])
    assert request.messages == history


@pytest.mark.parametrize("task", ["house-price", "battle-of-sexes"])
def test_the_first_request_for_a_kubegym_task_is_mlgyms_rendering(
    build: Build, server: FakeOpenAI, task: str
) -> None:
    expected = golden(f"first-request-{task}.json")
    request = first_request(build, server, expected["inputs"])
    assert len(request.messages) == 2
    for sent, wanted in zip(request.messages, expected["messages"], strict=True):
        assert sent == wanted


@pytest.mark.parametrize("task", ["house-price", "battle-of-sexes"])
def test_the_golden_inputs_are_the_tasks_of_today(repo: Path, task: str) -> None:
    """A changed task file changes the expected text: rerun fixtures/make_fixtures.py."""
    inputs = golden(f"first-request-{task}.json")["inputs"]
    (spec,) = [
        t.spec for t in documents.load_run_file(repo / "task_images" / task / "task.yaml").tasks
    ]
    assert spec.description.rstrip("\n") == inputs["description"]
    assert spec.limits.training_timeout_seconds == inputs["training_timeout"]
    assert spec.limits.max_steps == inputs["max_steps"]


def test_the_request_samples_as_mlgym_bench(build: Build, server: FakeOpenAI) -> None:
    request = first_request(build, server, golden("first-request-house-price.json")["inputs"])
    assert request.body["temperature"] == 0
    assert request.body["top_p"] == 0.95


@pytest.mark.parametrize(
    ("sampling", "temperature", "top_p"),
    [
        ({"temperature": 0.7}, 0.7, 0.95),
        ({"topP": 0.5}, 0.0, 0.5),
        # Set explicitly to kubegym's own default: still the run's choice, not MLGym's.
        ({"temperature": 0.0, "topP": 1.0}, 0.0, 1.0),
    ],
)
def test_sampling_the_run_sets_wins(
    make_spec: Callable[..., Any],
    server: FakeOpenAI,
    tmp_path: Path,
    sampling: dict[str, float],
    temperature: float,
    top_p: float,
) -> None:
    from kubegym.agent_runner import agents

    server.reply(reply("Look.", "ls"))
    agent = agents.make_agent(
        make_spec(sampling=sampling), task="t", run_dir=tmp_path, baseline_command=None, api_key="k"
    )
    assert isinstance(agent, mlgym_agent.MLGymAgent)
    agent.see(reset_info(golden("first-request-house-price.json")["inputs"]))
    agent.start("", "")
    agent.act(None)
    body = server.completions[0].body
    assert body["temperature"] == temperature
    assert body["top_p"] == top_p


def test_kubegyms_preset_stays_kubegyms(
    make_spec: Callable[..., Any], server: FakeOpenAI, tmp_path: Path
) -> None:
    from kubegym.agent_runner import agents

    spec = make_spec(preset="kubegym")
    agent = agents.make_agent(spec, task="t", run_dir=tmp_path, baseline_command=None, api_key="k")
    assert isinstance(agent, agents.ModelAgent)
    server.reply("```\nls\n```")
    agent.start("task", "system")
    agent.act(None)
    body = server.completions[0].body
    assert "top_p" not in body and body["temperature"] == 0
    assert body["messages"] == [
        {"role": "system", "content": "system"},
        {"role": "user", "content": "task"},
    ]


def test_with_the_tools_gpu_line_the_requests_are_mlgyms_gpu_variant(
    build: Build, server: FakeOpenAI
) -> None:
    """default_gpu_info.yaml: the GPU line below the step counter, a shorter tip 8."""
    expected = golden("first-request-house-price-gpu.json")
    inputs = expected["inputs"]
    gpu = inputs["gpu"]
    line = (
        f"(GPU Count: {gpu['gpu_count']}, GPU Model: {gpu['gpu_name']}, "
        f"Total memory per GPU: {gpu['gpu_memory']})"
    )
    server.push(reply("Look.", "ls"), reply("Read it.", 'open "baseline.py"'))
    agent = build()
    agent.see({**reset_info(inputs), "gpu_line": line})
    agent.start("", "")
    agent.act(None)
    agent.see({**step_info(inputs["output"], 1, STATE), "gpu_line": line})
    agent.act("unused")
    first, second = server.completions
    assert first.messages == expected["messages"]
    assert second.messages[-1] == {"role": "user", "content": expected["next_step"]}
