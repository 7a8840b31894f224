"""The fake OpenAI server itself, spoken to with plain HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.openai_server import FakeOpenAI, Request, serve_openai


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-1"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), dict(error.headers)


CHAT = {"model": "m", "messages": [{"role": "user", "content": "one two three"}]}


def test_a_reply_follows_the_chat_completion_shape() -> None:
    with serve_openai(["four five"]) as server:
        status, body, _ = post(server.base_url + "/chat/completions", CHAT)
    assert status == 200
    assert body["object"] == "chat.completion"
    assert body["id"] and body["created"] and body["model"] == "m"
    [choice] = body["choices"]
    assert choice["message"] == {"role": "assistant", "content": "four five"}
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert server.requests[0].api_key == "sk-1"


def test_the_root_path_works_too() -> None:
    with serve_openai(["ok"]) as server:
        root = server.base_url.removesuffix("/v1")
        status, _, _ = post(root + "/chat/completions", CHAT)
    assert status == 200


def test_errors_carry_status_body_and_headers() -> None:
    with serve_openai([FakeOpenAI.error(429, "slow down", retry_after=2)]) as server:
        status, body, headers = post(server.base_url + "/chat/completions", CHAT)
    assert status == 429
    assert body["error"]["message"] == "slow down"
    assert headers["Retry-After"] == "2"


def test_script_items_are_consumed_in_order_and_pushed_on_a_running_server() -> None:
    with serve_openai([FakeOpenAI.reply("first")]) as server:
        server.reply("second").push("third")
        texts = [
            post(server.base_url + "/chat/completions", CHAT)[1]["choices"][0]["message"]["content"]
            for _ in range(3)
        ]
        assert server.remaining == 0
    assert texts == ["first", "second", "third"]


def test_an_empty_script_fails_loudly_unless_there_is_a_default() -> None:
    with serve_openai() as server:
        status, body, _ = post(server.base_url + "/chat/completions", CHAT)
    assert status == 400
    assert "script is empty" in body["error"]["message"]
    with serve_openai(default="again") as server:
        for _ in range(2):
            assert post(server.base_url + "/chat/completions", CHAT)[0] == 200


def test_an_item_can_depend_on_the_request() -> None:
    def echo(request: Request) -> str:
        return f"you said: {request.messages[-1]['content']}"

    with serve_openai([echo]) as server:
        _, body, _ = post(server.base_url + "/chat/completions", CHAT)
    assert body["choices"][0]["message"]["content"] == "you said: one two three"


def test_other_paths_are_not_found() -> None:
    with serve_openai(["unused"]) as server:
        status, _, _ = post(server.base_url + "/embeddings", {})
        assert server.remaining == 1
    assert status == 404


@pytest.mark.parametrize("reason", ["length", "content_filter"])
def test_the_finish_reason_is_scripted(reason: str) -> None:
    with serve_openai([FakeOpenAI.reply("cut", finish_reason=reason)]) as server:
        _, body, _ = post(server.base_url + "/chat/completions", CHAT)
    assert body["choices"][0]["finish_reason"] == reason
