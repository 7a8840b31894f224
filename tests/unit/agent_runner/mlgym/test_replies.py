"""Replies read as MLGym reads them: one command, or a format error and MLGym's re-ask.

The corpus (``fixtures/mlgym-parser-corpus.json``) holds MLGym's own parser's verdict on each
reply, hostile ones included: two commands smuggled in two blocks, an edit that closes its block
early to run a second command, fences that MLGym does not count.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kubegym.agent_runner import decisions
from kubegym.agent_runner.mlgym import agent as mlgym_agent
from kubegym.agent_runner.mlgym import replies, templates
from tests.support.openai_server import FakeOpenAI, estimate_tokens
from tests.unit.agent_runner.mlgym.conftest import golden, reply, reset_info

Build = Callable[..., mlgym_agent.MLGymAgent]
CASES = golden("mlgym-parser-corpus.json")["cases"]
INPUTS = golden("first-request-battle-of-sexes.json")["inputs"]


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_every_reply_is_read_as_mlgym_reads_it(case: dict[str, str]) -> None:
    if "error" in case:
        with pytest.raises(replies.FormatError) as caught:
            replies.parse(case["reply"])
        assert str(caught.value) == case["error"]
    else:
        parsed = replies.parse(case["reply"])
        assert (parsed.thought, parsed.action) == (case["thought"], case["action"])


def test_the_corpus_holds_the_attacks() -> None:
    """The hostile replies are in the corpus and MLGym never reads two commands from one."""
    smuggled = [c for c in CASES if "rm " in c["reply"]]
    assert len(smuggled) >= 3
    for case in smuggled:
        # Either a format error, or one block whose text goes to the tools as one action.
        assert "error" in case or case["action"].count("```") == 0


def started(build: Build) -> mlgym_agent.MLGymAgent:
    agent = build()
    agent.see(reset_info(INPUTS))
    agent.start("", "")
    return agent


def test_two_commands_are_reasked_never_run(build: Build, server: FakeOpenAI) -> None:
    smuggling = "DISCUSSION\nBoth at once.\n```\nls\n```\n```\nrm -rf data\n```"
    server.push(smuggling, reply("One at a time.", "ls"))
    agent = started(build)
    decision = agent.act(None)
    assert decision.action == "ls" and decision.format_errors == 1
    first, reask = server.completions
    # The re-ask: the request as it was, the bad reply, MLGym's message; nothing else.
    assert reask.messages == [
        *first.messages,
        {"role": "assistant", "content": smuggling},
        {"role": "user", "content": templates.FORMAT_ERROR},
    ]
    # The bad reply never enters the history: the next request shows the good one only.
    assert [m.content for m in agent.history[-1:]] == [reply("One at a time.", "ls")]
    assert all(smuggling != m.content for m in agent.history)


def test_the_format_error_message_is_mlgyms() -> None:
    assert templates.FORMAT_ERROR == (
        "Your output was not formatted correctly. Your commands were not executed.\n"
        "You must always include one discussion and one command as part of your response.\n"
        "Make sure you do not have multiple discussion/command tags.\n"
        "\n"
        "Please make sure your output precisely matches the following format:\n"
        "DISCUSSION\n"
        "Discuss here with yourself about what you are planning and what you are going to do in this step.\n"
        "\n"
        "```\n"
        "command(s) that you're going to run\n"
        "```\n"
    )


def test_four_bad_replies_end_the_trial_as_mlgym(build: Build, server: FakeOpenAI) -> None:
    """MLGym re-asks three times and never reads the fourth reply: four calls, then exit_format
    (its recorded battle-of-sexes run that ended so counts 4 API calls)."""
    recorded = golden("mlgym-trajectory-battleOfSexes.json")
    assert recorded["exit_status"] == "autosubmission (exit_format)"
    assert recorded["model_stats"]["api_calls"] == 4
    # The fourth reply would parse; MLGym's loop stops before reading it.
    server.push("no command", "still none", "```\nls\n```\n```\nrm x\n```", reply("ok", "ls"))
    agent = started(build)
    with pytest.raises(decisions.FormatFailure) as caught:
        agent.act(None)
    assert len(server.completions) == 4
    assert caught.value.reason == "format_error"
    assert caught.value.decision.format_errors == 3
    # Every call's tokens count, the failed ones too (the server counts words as tokens).
    assert caught.value.decision.prompt_tokens == sum(
        estimate_tokens(m["content"]) for r in server.completions for m in r.messages
    )
    # Each re-ask carries only the latest bad reply, never the earlier ones.
    for request, bad in zip(server.completions[1:], ["no command", "still none"], strict=False):
        assert request.messages[-2:] == [
            {"role": "assistant", "content": bad},
            {"role": "user", "content": templates.FORMAT_ERROR},
        ]
