"""Transient errors are retried by the client, and only by it: counted, with honest waits."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kubegym import errors
from kubegym.agent_runner import models
from kubegym.api import runs
from tests.support.openai_server import FakeOpenAI
from tests.unit.agent_models.conftest import HELLO

Client = Callable[..., models.ModelClient]


def test_a_rate_limit_is_retried_after_the_servers_wait(
    server: FakeOpenAI, client: Client, sleeps: list[float]
) -> None:
    server.error(429, retry_after=7)
    server.reply("done")
    model = client()

    reply = model.complete(HELLO)

    assert reply.text == "done"
    assert reply.attempts == 2
    assert sleeps == [7.0]
    assert model.usage.retries == 1
    assert len(server.completions) == 2  # litellm's own retries are off


def test_retry_after_is_capped(server: FakeOpenAI, client: Client, sleeps: list[float]) -> None:
    server.error(429, retry_after=3600).reply("done")
    client(retry=models.RetrySettings(max_wait_s=30)).complete(HELLO)
    assert sleeps == [30.0]


def test_retry_after_ms_is_read(server: FakeOpenAI, client: Client, sleeps: list[float]) -> None:
    server.error(429, headers={"retry-after-ms": "250"}).reply("done")
    client().complete(HELLO)
    assert sleeps == [0.25]


def test_server_errors_back_off_exponentially_with_jitter(
    server: FakeOpenAI, client: Client, sleeps: list[float]
) -> None:
    server.error(500).error(502).error(503).error(500).reply("finally")
    retry = models.RetrySettings(first_wait_s=1.0, max_wait_s=5.0)

    reply = client(retry=retry, rng=lambda: 1.0).complete(HELLO)

    assert reply.attempts == 5
    assert sleeps == [1.0, 2.0, 4.0, 5.0]  # doubling, capped; jitter at its top here


def test_jitter_spreads_waits_between_half_and_all_of_the_backoff(
    server: FakeOpenAI, client: Client, sleeps: list[float]
) -> None:
    server.error(500).error(500).reply("ok")
    client(rng=lambda: 0.0).complete(HELLO)
    assert sleeps == [0.5, 1.0]


def test_repeated_server_errors_exhaust_the_attempts(
    server: FakeOpenAI, client: Client, sleeps: list[float]
) -> None:
    for _ in range(3):
        server.error(500, "the model server is down")
    model = client(retry=models.RetrySettings(attempts=3))

    with pytest.raises(errors.InfraError) as caught:
        model.complete(HELLO)

    assert caught.value.reason == "ModelUnavailable"
    assert "'openai/fake-model' failed 3 attempts" in str(caught.value)
    assert "the model server is down" in str(caught.value)
    assert len(server.completions) == 3
    assert len(sleeps) == 2
    assert model.usage.retries == 2
    assert model.usage.calls == 0


def test_endless_rate_limits_say_so(server: FakeOpenAI, client: Client) -> None:
    server.error(429, retry_after=0).error(429, retry_after=0)
    with pytest.raises(errors.InfraError) as caught:
        client(retry=models.RetrySettings(attempts=2)).complete(HELLO)
    assert caught.value.reason == "ModelRateLimited"


def test_a_timeout_is_retried(server: FakeOpenAI, client: Client, sleeps: list[float]) -> None:
    server.reply("too slow", delay_s=1.0).reply("in time")
    reply = client(retry=models.RetrySettings(timeout_s=0.2)).complete(HELLO)
    assert reply.text == "in time"
    assert len(sleeps) == 1


def test_an_unreachable_server_is_retried_then_reported(
    make_agent: Callable[..., runs.Agent], client: Client, sleeps: list[float]
) -> None:
    agent = make_agent(apiBase="http://127.0.0.1:9/v1")  # the discard port: nothing listens
    with pytest.raises(errors.InfraError, match="ModelUnavailable"):
        client(agent=agent, retry=models.RetrySettings(attempts=2)).complete(HELLO)
    assert len(sleeps) == 1
