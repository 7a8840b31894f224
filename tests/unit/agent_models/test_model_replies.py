"""A reply through litellm and the fake server: text, tokens, cost, and what was sent."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import structlog

from kubegym import errors
from kubegym.agent_runner import models
from kubegym.api import runs
from tests.support.openai_server import FakeOpenAI
from tests.unit.agent_models.conftest import HELLO

Client = Callable[..., models.ModelClient]
MakeAgent = Callable[..., runs.Agent]


def test_a_reply_carries_text_tokens_and_the_override_price(
    server: FakeOpenAI, client: Client, make_agent: MakeAgent
) -> None:
    server.reply("hi there", prompt_tokens=1000, completion_tokens=500)
    pricing = {"inputUsdPerMillionTokens": 2.0, "outputUsdPerMillionTokens": 8.0}
    model = client(agent=make_agent(pricing=pricing))

    reply = model.complete(HELLO)

    assert reply.text == "hi there"
    assert (reply.prompt_tokens, reply.completion_tokens) == (1000, 500)
    assert reply.cost_usd == pytest.approx(1000 * 2e-6 + 500 * 8e-6)
    assert reply.priced
    assert reply.finish_reason == "stop"
    assert reply.attempts == 1
    assert reply.model == "fake-model"


def test_the_price_table_prices_a_known_model(
    server: FakeOpenAI, client: Client, make_agent: MakeAgent
) -> None:
    # The fake server echoes the model it was asked for, so litellm prices the
    # response as gpt-4o-mini: a known name behind apiBase is priced as OpenAI's.
    server.reply("a b c", prompt_tokens=100, completion_tokens=10)
    model = client(agent=make_agent(model="openai/gpt-4o-mini"))

    reply = model.complete(HELLO)

    import litellm  # only now: the client imported it, with the local price table

    table = litellm.model_cost["gpt-4o-mini"]
    expected = 100 * table["input_cost_per_token"] + 10 * table["output_cost_per_token"]
    assert reply.priced
    assert reply.cost_usd == pytest.approx(expected)
    assert reply.cost_usd > 0


def test_an_unknown_price_is_flagged_and_warned_about_once(
    server: FakeOpenAI, client: Client
) -> None:
    server.push("one", "two")
    model = client()
    with structlog.testing.capture_logs() as logs:
        first, second = model.complete(HELLO), model.complete(HELLO)

    assert (first.priced, first.cost_usd) == (False, 0.0)
    assert not second.priced
    warnings = [
        e for e in logs if e["event"] == "model_price_unknown" and e["log_level"] == "warning"
    ]
    assert len(warnings) == 1
    assert model.usage.unpriced_calls == 2
    assert not any(e["log_level"] == "info" for e in logs)


def test_running_totals_add_up(server: FakeOpenAI, client: Client, make_agent: MakeAgent) -> None:
    server.reply("x", prompt_tokens=10, completion_tokens=2)
    server.error(429, retry_after=0)
    server.reply("y", prompt_tokens=20, completion_tokens=3)
    pricing = {"inputUsdPerMillionTokens": 1e6, "outputUsdPerMillionTokens": 1e6}
    model = client(agent=make_agent(pricing=pricing))

    model.complete(HELLO)
    model.complete(HELLO)

    usage = model.usage
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (2, 30, 5)
    assert usage.tokens == 35
    assert usage.cost_usd == pytest.approx(35.0)
    assert usage.retries == 1


def test_messages_sampling_and_the_key_reach_the_server(
    server: FakeOpenAI, client: Client, make_agent: MakeAgent
) -> None:
    server.reply("ok")
    sampling = {"temperature": 0.7, "topP": 0.9, "maxTokens": 64, "seed": 11}
    client(agent=make_agent(sampling=sampling), api_key="sk-secret").complete(HELLO)

    [request] = server.completions
    assert request.path == "/v1/chat/completions"
    assert request.messages == HELLO
    assert request.api_key == "sk-secret"
    body = request.body
    assert body["model"] == "fake-model"
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (
        0.7,
        0.9,
        64,
        11,
    )


def test_the_trial_seed_is_sent_when_sampling_has_none(server: FakeOpenAI, client: Client) -> None:
    server.reply("ok")
    client(seed=3).complete(HELLO)
    assert server.completions[0].body["seed"] == 3
    assert "top_p" not in server.completions[0].body


def test_the_key_comes_from_the_named_variable(
    server: FakeOpenAI, client: Client, make_agent: MakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBEGYM_TEST_KEY", "sk-from-env")
    server.reply("ok")
    client(agent=make_agent(apiKeyEnv="KUBEGYM_TEST_KEY"), api_key=None).complete(HELLO)
    assert server.completions[0].api_key == "sk-from-env"


def test_an_unset_key_variable_is_a_config_error(
    make_agent: MakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBEGYM_TEST_KEY", raising=False)
    with pytest.raises(errors.ConfigError, match="KUBEGYM_TEST_KEY is not set") as caught:
        models.ModelClient(make_agent(apiKeyEnv="KUBEGYM_TEST_KEY"))
    assert caught.value.field == "spec.agents[tester].apiKeyEnv"


def test_keys_never_reach_the_logs(server: FakeOpenAI, client: Client) -> None:
    server.error(503)
    server.reply("ok")
    with structlog.testing.capture_logs() as logs:
        client(api_key="sk-very-secret").complete(HELLO)
    assert logs
    assert "sk-very-secret" not in repr(logs)
