"""What the model sees as a trial goes on: every reply, the last five observations whole, MLGym's
next-step messages; checked against a replayed MLGym-Bench trajectory and MLGym's own processor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kubegym.agent_runner.mlgym import agent as mlgym_agent
from kubegym.agent_runner.mlgym import history
from tests.support.openai_server import FakeOpenAI
from tests.unit.agent_runner.mlgym.conftest import golden, reset_info, step_info

Build = Callable[..., mlgym_agent.MLGymAgent]


def expected_request(recorded: dict[str, Any], number: int) -> list[dict[str, str]]:
    """Request ``number`` as MLGym sent it: a kept message by index, an elided one written out."""
    return [
        recorded["history"][item] if isinstance(item, int) else item
        for item in recorded["requests"][str(number)]
    ]


def test_a_replayed_trajectory_sends_mlgyms_requests(build: Build, server: FakeOpenAI) -> None:
    """An MLGym-Bench trajectory (house price) replayed: the model's recorded replies over HTTP,
    the recorded outputs and shell states as the environment's view. Every request equals the
    one MLGym's own Last5Observations made of that history, the 6th observation and later
    eliding the oldest, and every step's message equals MLGym's recorded one."""
    recorded = golden("mlgym-trajectory-regressionKaggleHousePrice.json")
    steps = recorded["steps"]
    server.push(*[step["response"] for step in steps])
    agent = build()
    agent.see(reset_info(recorded["inputs"]))
    agent.start("", "")
    agent.act(None)
    for number, step in enumerate(steps[:-1], start=1):
        agent.see(step_info(step["observation"], number, step["state_after"]))
        agent.act(step["observation"])
    requests = server.completions
    assert len(requests) == len(steps) == 8
    assert [m.content for m in agent.history] == [m["content"] for m in recorded["history"][:-1]]
    for number in (1, 6, 7, 8):
        assert requests[number - 1].messages == expected_request(recorded, number), number
    elided = [m["content"] for m in requests[7].messages if m["content"].startswith("Old output")]
    assert len(elided) == 2  # 7 observations: the first two elided, the last five whole


def test_every_step_message_is_mlgyms(build: Build, server: FakeOpenAI) -> None:
    """The no-output form too: a blank output gets MLGym's own sentence."""
    recorded = golden("mlgym-trajectory-regressionKaggleHousePrice.json")
    server.push("```\ntouch a\n```", "```\nls\n```")
    agent = build()
    agent.see(reset_info(recorded["inputs"]))
    agent.start("", "")
    agent.act(None)
    state = {"open_file": "/workspace/a.py", "working_dir": "/workspace/src"}
    agent.see(step_info("\n", 1, state))
    agent.act("kubegym's own rendering, unused")
    assert server.completions[1].messages[-1]["content"] == (
        "Your command ran successfully and did not produce any output.\n"
        "(Current Step: 1, Remaining Steps: 49)\n"
        "(Open file: /workspace/a.py)\n"
        "(Current directory: /workspace/src)\n"
        "bash-$"
    )


@pytest.mark.parametrize("case", range(9))
def test_the_processor_is_mlgyms(case: int) -> None:
    """Demonstrations are neither elided nor counted; the task is always kept; N counts lines."""
    recorded = golden("mlgym-elision-cases.json")["cases"][case]
    messages = [
        history.Message(m["role"], m["content"], demonstration=bool(m.get("is_demo")))
        for m in recorded["history"]
    ]
    assert [m.to_wire() for m in history.visible(messages)] == recorded["shown"]


def test_keep_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        history.visible([], keep=0)


def test_the_remaining_steps_count_the_agents_own_limit(build: Build, server: FakeOpenAI) -> None:
    """The loop stops at the agent's maxSteps when the run sets one: the prompt counts down to it."""
    server.push("```\nls\n```", "```\nls\n```")
    agent = build(maxSteps=30)
    agent.see(reset_info(golden("first-request-house-price.json")["inputs"]))
    agent.start("", "")
    agent.act(None)
    agent.see(step_info("a\n", 1, {"open_file": "n/a", "working_dir": "/workspace"}))
    agent.act("unused")
    first, second = server.completions
    assert "(Current Step: 0, Remaining Steps: 30)" in first.messages[1]["content"]
    assert "(Current Step: 1, Remaining Steps: 29)" in second.messages[-1]["content"]


def seven_steps(agent: mlgym_agent.MLGymAgent, server: FakeOpenAI) -> None:
    """A trial's start and seven steps of five-line observations (``output N`` and the state)."""
    server.push(*["```\nls\n```"] * 8)
    agent.see(reset_info(golden("first-request-house-price.json")["inputs"]))
    agent.start("", "")
    agent.act(None)
    for step in range(1, 8):
        agent.see(step_info(f"output {step}\n", step, {"open_file": "n/a", "working_dir": "/w"}))
        agent.act("unused")


def test_a_demonstration_is_sent_as_mlgym_sends_it_and_never_elided(
    make_spec: Callable[..., Any], server: FakeOpenAI
) -> None:
    """MLGym's demonstration (its memory variant's, cut short) as one user message after the
    system message: neither elided nor counted among the last five observations."""
    from kubegym.agent_runner import models
    from kubegym.agent_runner.mlgym import templates

    recorded = golden("mlgym-demonstration.json")
    text = templates.demonstration_text(recorded["history"])
    assert templates.demonstration_message(text) == recorded["message"]
    spec = make_spec()
    client = models.ModelClient(spec, api_key="k")
    agent = mlgym_agent.MLGymAgent(spec, client, demonstrations=[text])
    seven_steps(agent, server)
    first, last = server.completions[0], server.completions[-1]
    assert [m["role"] for m in first.messages] == ["system", "user", "user"]
    assert first.messages[1]["content"] == recorded["message"]
    assert last.messages[1]["content"] == recorded["message"]
    elided = [m["content"] for m in last.messages if m["content"].startswith("Old output")]
    assert elided == ["Old output omitted (5 lines)", "Old output omitted (5 lines)"]


def test_text_from_the_sandbox_is_never_formatted_again(build: Build, server: FakeOpenAI) -> None:
    """Output, paths and descriptions holding template fields go in as they are (MLGym's
    str.format takes them as values); a field name in them is no way into the prompt."""
    hostile = "{description} {observation} {0} }{ {current_step}"
    inputs = {**golden("first-request-house-price.json")["inputs"], "description": hostile}
    server.push("```\nls\n```", "```\nls\n```")
    agent = build()
    agent.see(
        {
            **reset_info(inputs),
            "gpu_line": "(GPU Count: 1, GPU Model: {x}, Total memory per GPU: 1 MiB)",
        }
    )
    agent.start("", "")
    agent.act(None)
    agent.see(
        {
            **step_info(hostile + "\n", 1, {"open_file": "/w/{open_file}.py", "working_dir": "/w"}),
            "gpu_line": "(GPU Count: 1, GPU Model: {x}, Total memory per GPU: 1 MiB)",
        }
    )
    agent.act("unused")
    first, second = server.completions
    assert f"TASK DESCRIPTION:\n{hostile}\n\nINSTRUCTIONS:" in first.messages[1]["content"]
    assert second.messages[-1]["content"] == (
        f"{hostile}\n(Current Step: 1, Remaining Steps: 49)\n"
        "(GPU Count: 1, GPU Model: {x}, Total memory per GPU: 1 MiB)\n"
        "(Open file: /w/{open_file}.py)\n(Current directory: /w)\nbash-$"
    )


@pytest.mark.parametrize(
    ("fields", "whole"), [({}, 5), ({"historyWindow": 5}, 5), ({"historyWindow": 2}, 2)]
)
def test_the_observations_shown_whole_are_five_unless_the_run_says(
    build: Build, server: FakeOpenAI, fields: dict[str, int], whole: int
) -> None:
    seven_steps(build(**fields), server)
    last = server.completions[-1].messages
    observations = [m["content"] for m in last if m["role"] == "user"][1:]
    assert len(observations) == 7
    assert sum(not o.startswith("Old output omitted") for o in observations) == whole
