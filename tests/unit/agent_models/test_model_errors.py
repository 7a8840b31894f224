"""Permanent model errors become errors a user or the agent loop can act on, never retried."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kubegym import errors
from kubegym.agent_runner import models
from kubegym.api import runs
from tests.support.openai_server import FakeOpenAI
from tests.unit.agent_models.conftest import HELLO

Client = Callable[..., models.ModelClient]
MakeAgent = Callable[..., runs.Agent]


def test_an_unknown_provider_is_a_config_error_with_a_hint(
    server: FakeOpenAI, client: Client, make_agent: MakeAgent, sleeps: list[float]
) -> None:
    model = client(agent=make_agent(model="foo/bar"))

    with pytest.raises(errors.ConfigError) as caught:
        model.complete(HELLO)

    message = str(caught.value)
    assert "unknown model 'foo/bar'" in message
    assert "openai/" in message and "apiBase" in message
    assert caught.value.field == "spec.agents[tester].model"
    assert server.requests == []  # decided without the network
    assert sleeps == []


def test_a_rejected_key_is_a_config_error_about_the_key(
    server: FakeOpenAI, client: Client, make_agent: MakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBEGYM_TEST_KEY", "sk-wrong")
    server.error(401, "Incorrect API key provided")
    model = client(agent=make_agent(apiKeyEnv="KUBEGYM_TEST_KEY"), api_key=None)

    with pytest.raises(errors.ConfigError) as caught:
        model.complete(HELLO)

    message = str(caught.value)
    assert "API key was rejected" in message
    assert "KUBEGYM_TEST_KEY" in message
    assert "sk-wrong" not in message
    assert len(server.completions) == 1


def test_an_unknown_model_at_the_server_is_a_config_error(
    server: FakeOpenAI, client: Client
) -> None:
    server.error(404, "The model `fake-model` does not exist")
    with pytest.raises(errors.ConfigError, match=r"not found.*does not exist"):
        client().complete(HELLO)
    assert len(server.completions) == 1


def test_a_bad_request_is_a_config_error(server: FakeOpenAI, client: Client) -> None:
    server.error(400, "temperature must be at most 2")
    with pytest.raises(errors.ConfigError, match="rejected the request: temperature"):
        client().complete(HELLO)
    assert len(server.completions) == 1


def test_an_overlong_prompt_is_its_own_error(server: FakeOpenAI, client: Client) -> None:
    server.error(
        400,
        "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
        code="context_length_exceeded",
    )
    with pytest.raises(models.ContextWindowExceeded) as caught:
        client().complete(HELLO)
    assert caught.value.model == "openai/fake-model"
    assert caught.value.message.startswith("This model's maximum context length")
    assert not isinstance(caught.value, errors.ConfigError)


def test_an_agent_without_a_model_is_refused() -> None:
    agent = runs.Agent.model_validate({"name": "base", "builtin": "baseline"})
    with pytest.raises(errors.ConfigError, match="has no model"):
        models.ModelClient(agent)
