"""A real HTTP server on 127.0.0.1 that speaks OpenAI's chat-completions protocol, from a script.

Used by the model client's tests (`tests/unit/agent_models/`) and by end-to-end
agent tests: litellm reaches it with ``model="openai/<name>"`` and
``api_base=server.base_url``, so the whole client stack runs, nothing mocked.

A script is a queue of items consumed one per request, in order:

- a reply (`FakeOpenAI.reply("text")`, or just the string ``"text"``);
- an error (`FakeOpenAI.error(429, retry_after=0)`): a status code, an OpenAI-style
  JSON error body and optional headers;
- a function of the request (`Request` → item), for replies that depend on what was sent.

Example::

    with serve_openai([FakeOpenAI.error(429, retry_after=0), "hello"]) as server:
        server.reply("open train.py")  # appends to the script
        litellm.completion(model="openai/fake", api_base=server.base_url, api_key="k", ...)
        assert server.requests[0].messages[-1]["content"] == "hi"
"""

from __future__ import annotations

import collections
import dataclasses
import http.server
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar, overload

# The paths litellm's OpenAI provider posts to: the base URL plus `/chat/completions`,
# where the base URL usually ends in `/v1` (but some gateways serve it at the root).
COMPLETION_PATHS = ("/v1/chat/completions", "/chat/completions")


@dataclasses.dataclass(frozen=True)
class Reply:
    """A successful chat completion."""

    text: str
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    """Reported prompt tokens; estimated from the request's words when absent."""
    completion_tokens: int | None = None
    """Reported completion tokens; the reply's word count when absent."""
    model: str | None = None
    """The model named in the response; the requested model when absent."""
    delay_s: float = 0.0
    """Seconds to wait before answering, to exercise client timeouts."""


@dataclasses.dataclass(frozen=True)
class Error:
    """An HTTP error with an OpenAI-style JSON body."""

    status: int
    message: str = "scripted error"
    type: str = "server_error"
    code: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names lower-cased."""
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent."""
        messages: list[dict[str, Any]] = self.body.get("messages", [])
        return messages

    @property
    def api_key(self) -> str | None:
        """The bearer token of the Authorization header, if any."""
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


Item = Reply | Error | str | Callable[[Request], "Reply | Error | str"]

_T = TypeVar("_T", bound="Reply | Error")


class _ScriptItem(Generic[_T]):
    """A method that builds a script item on the class and appends it on an instance.

    So `FakeOpenAI.reply("x")` makes an item for `serve_openai([...])`, and
    `server.reply("x")` pushes one onto a running server's script.
    """

    def __init__(self, make: Callable[..., _T]):
        self.make = make
        self.__doc__ = make.__doc__

    @overload
    def __get__(self, instance: None, owner: type) -> Callable[..., _T]: ...
    @overload
    def __get__(self, instance: FakeOpenAI, owner: type) -> Callable[..., FakeOpenAI]: ...
    def __get__(self, instance: FakeOpenAI | None, owner: type) -> Callable[..., Any]:
        if instance is None:
            return self.make

        def push(*args: Any, **kwargs: Any) -> FakeOpenAI:
            return instance.push(self.make(*args, **kwargs))

        return push


def _reply(text: str, **options: Any) -> Reply:
    """A reply with `text`; options are `Reply`'s fields (finish_reason, prompt_tokens…)."""
    return Reply(text, **options)


def _error(
    status: int,
    message: str | None = None,
    *,
    retry_after: float | None = None,
    type: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Error:
    """An HTTP error; `retry_after` (seconds) sets the Retry-After header."""
    all_headers = dict(headers or {})
    if retry_after is not None:
        all_headers["Retry-After"] = f"{retry_after:g}"
    default_type = {400: "invalid_request_error", 401: "invalid_request_error", 429: "rate_limit"}
    return Error(
        status,
        message or f"scripted error {status}",
        type or default_type.get(status, "server_error"),
        code,
        all_headers,
    )


def estimate_tokens(text: str) -> int:
    """A crude token count: whitespace-separated words."""
    return len(text.split())


class FakeOpenAI:
    """The server's script and what it received. Build it with `serve_openai`."""

    reply = _ScriptItem(_reply)
    error = _ScriptItem(_error)

    def __init__(self, script: Iterable[Item] = (), *, default: Item | None = None):
        self._script: collections.deque[Item] = collections.deque(script)
        self._default = default
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.requests: list[Request] = []
        """Every request received, in order (completions and anything else)."""
        self.base_url = ""
        """``http://127.0.0.1:PORT/v1``, once serving."""

    def push(self, *items: Item) -> FakeOpenAI:
        """Append items to the script; returns the server, so calls chain."""
        with self._lock:
            self._script.extend(items)
        return self

    @property
    def remaining(self) -> int:
        """Items of the script not yet consumed."""
        with self._lock:
            return len(self._script)

    @property
    def completions(self) -> list[Request]:
        """The chat-completion requests received, in order."""
        return [r for r in self.requests if r.path.rstrip("/") in COMPLETION_PATHS]

    def _next(self, request: Request) -> Reply | Error:
        with self._lock:
            self.requests.append(request)
            item = self._script.popleft() if self._script else self._default
            served = len(self.requests)
        if item is None:
            return Error(
                400,
                f"fake OpenAI server: the script is empty (request {served}); push more replies",
                "invalid_request_error",
            )
        if callable(item):
            item = item(request)
        return Reply(item) if isinstance(item, str) else item

    def _answer(self, request: Request) -> tuple[int, dict[str, Any], dict[str, str]]:
        if request.path.rstrip("/") not in COMPLETION_PATHS:
            with self._lock:
                self.requests.append(request)
            return 404, _error_body(f"no route {request.path}", "invalid_request_error"), {}
        item = self._next(request)
        if isinstance(item, Error):
            return item.status, _error_body(item.message, item.type, item.code), item.headers
        if item.delay_s:
            time.sleep(item.delay_s)
        prompt_words = sum(_content_words(m.get("content")) for m in request.messages)
        prompt = item.prompt_tokens if item.prompt_tokens is not None else prompt_words
        completion = (
            item.completion_tokens
            if item.completion_tokens is not None
            else estimate_tokens(item.text)
        )
        body = {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": item.model or request.body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": item.text},
                    "finish_reason": item.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
        return 200, body, {}


def _content_words(content: Any) -> int:
    if isinstance(content, str):
        return estimate_tokens(content)
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        return sum(estimate_tokens(str(p.get("text", ""))) for p in content if isinstance(p, dict))
    return 0


def _error_body(message: str, type: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def _handler(fake: FakeOpenAI) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                body = {"_raw": raw.decode(errors="replace")}
            request = Request(
                "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            self._send(*fake._answer(request))

        def do_GET(self) -> None:
            request = Request("GET", self.path, {k.lower(): v for k, v in self.headers.items()}, {})
            with fake._lock:
                fake.requests.append(request)
            self._send(404, _error_body(f"no route {self.path}", "invalid_request_error"), {})

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


@contextmanager
def serve_openai(
    script: Iterable[Item] = (), *, default: Item | None = None, host: str = "127.0.0.1"
) -> Iterator[FakeOpenAI]:
    """Serve a scripted OpenAI-compatible API on a free port of ``host`` (loopback by default).

    Args:
        script: the items to answer with, one per chat-completion request, in order.
        default: what to answer once the script is empty; a 400 error naming the
            problem when absent, so a test that runs out of replies fails fast.
        host: the address to listen on (a real node's pods reach the node's address).

    Yields:
        The `FakeOpenAI`, with `base_url` set; the server stops on exit.
    """
    fake = FakeOpenAI(script, default=default)
    server = http.server.ThreadingHTTPServer((host, 0), _handler(fake))
    server.daemon_threads = True
    host, port = server.server_address[:2]
    fake.base_url = f"http://{host!s}:{port}/v1"
    # A short poll interval: `shutdown` waits up to one interval, once per test.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="fake-openai", daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
