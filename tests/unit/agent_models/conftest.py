"""Fixtures for the model client's tests: a scripted OpenAI server and clients aimed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kubegym.agent_runner import models
from kubegym.api import runs
from tests.support.openai_server import FakeOpenAI, serve_openai

HELLO = [{"role": "system", "content": "You are a test."}, {"role": "user", "content": "say hi"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    """A running fake OpenAI server with an empty script; tests push replies."""
    with serve_openai() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    """The waits a client asked for, in order (filled by `client`'s injected sleep)."""
    return []


@pytest.fixture
def make_agent(server: FakeOpenAI) -> Callable[..., runs.Agent]:
    """Build an Agent aimed at the fake server; keyword arguments are Agent fields."""

    def make(**fields: Any) -> runs.Agent:
        spec: dict[str, Any] = {"name": "tester", "model": "openai/fake-model"}
        spec["apiBase"] = server.base_url
        spec.update(fields)
        return runs.Agent.model_validate(spec)

    return make


@pytest.fixture
def client(
    make_agent: Callable[..., runs.Agent], sleeps: list[float]
) -> Callable[..., models.ModelClient]:
    """Build a ModelClient for the fake server that records its waits instead of sleeping."""

    def make(*, agent: runs.Agent | None = None, **options: Any) -> models.ModelClient:
        options.setdefault("api_key", "sk-test")
        options.setdefault("rng", lambda: 0.0)
        return models.ModelClient(agent or make_agent(), sleep=sleeps.append, **options)

    return make
